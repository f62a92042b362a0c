import { TesseraError } from '@tessera/ops';

/** A collective that failed: a peer died or hung, ranks disagreed, or the transport broke. */
export class DistributedError extends TesseraError {}
