import './engine.js';

export { grad, type GradOptions, sumToShape, queueCallback } from './engine.js';
export { noGrad, enableGrad, isGradEnabled } from './mode.js';
export { defineFunction, type FunctionContext, type FunctionDef } from './function.js';
export { GradcheckError, gradcheck, gradgradcheck, type GradcheckOptions } from './gradcheck.js';
export { jvp } from './jvp.js';
