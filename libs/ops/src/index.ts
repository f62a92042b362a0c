export * from './errors.js';
export * from './dtype.js';
export * from './promote.js';
export * as ir from './ir.js';
export type { Expr, Prim, PrimInfo } from './ir.js';
export { PRIMS, topoSort, lowerPrims, renderSsa, renderSsaAll, type SsaTarget, type OpExpr } from './ir.js';
export * from './spec.js';
export * from './grad.js';
export * from './shape.js';
export * from './validate.js';
export * from './registry.js';
export * as scalar from './ref/scalar.js';
export * from './ref/nd.js';
export {
  type MatmulPlan, type Conv2dOptions, type Conv2dPlan, type Pool2dOptions, type Pool2dPlan, type Pair,
  matmulShape, layerNormShape, gatherShape, scatterShape, indexSelectShape, embeddingShape, conv2dShape, pool2dShape, checkIndex, pair,
  matmulRef, softmaxRef, logSoftmaxRef, softmaxBackwardRef, sortRef, layerNormRef, layerNormBackwardRef, gatherRef, scatterAddRef, indexSelectRef, embeddingRef, conv2dRef, maxPool2dRef, avgPool2dRef,
} from './specs/routines.js';
