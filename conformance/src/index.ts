export { CANDIDATES, type Candidate } from './backends.js';
export { forEachBackend } from './suite.js';
export { Matrix, type Entry, type Status } from './matrix.js';
export { check } from './run.js';
export { logical, roundTo, close, expectClose } from './compare.js';
