export { CANDIDATES, activate, forEachBackend, type Candidate } from './backends.js';
export { Matrix, type Entry, type Status } from './matrix.js';
export { check } from './run.js';
export { logical, roundTo, close, expectClose } from './compare.js';
