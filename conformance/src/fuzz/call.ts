/**
 * The differential fuzzer's call description: plain JSON, so one generated call can be run by
 * Tessera (in a child process, crash-isolated) and by PyTorch (torch_worker.py) and the outcomes
 * compared. Values that JSON cannot hold travel as markers: {$t: i} a tensor of the call, {$f:
 * 'nan'|'inf'|'-inf'|'-0'} a special float, {$i: '123'} an integer (a bigint on the Tessera side),
 * {$u: 1} undefined (None in Python), {$dtype: 'float32'} a dtype (torch.float32 in Python).
 */
import type { DType } from 'tessera';

export type Special = 'nan' | 'inf' | '-inf' | '-0';
export type Num = number | { readonly $f: Special };

/** Views applied to a tensor after it is built (flip is a view in Tessera and a copy in torch: the same values). */
export type ViewOp =
  | readonly ['permute', readonly number[]]
  | readonly ['transpose', number, number]
  | readonly ['slice', number, number, number, number]
  | readonly ['expand', readonly number[]]
  | readonly ['flip', readonly number[]]
  | readonly ['select', number, number]
  | readonly ['unsqueeze', number]
  | readonly ['narrow', number, number, number]
  | readonly ['t'];

export interface TensorDesc {
  readonly shape: readonly number[];
  readonly dtype: DType;
  /** Row-major values; absent when `from` is set. */
  readonly data?: readonly Num[];
  /** Built as views of tensor `from` of the same call (the same memory: how overlap is drawn). */
  readonly from?: number;
  readonly views?: readonly ViewOp[];
  /** requiresGrad on the base tensor before its views (a leaf, or views of one). */
  readonly grad?: boolean;
}

/** One invocation on the Tessera side. */
export interface TsInvocation {
  readonly kind: 'method' | 'fn' | 'nn' | 'module' | 'backward';
  readonly name: string;
  readonly self?: number;
  readonly args?: readonly unknown[];
  /** module: constructor arguments, parameters to copy in (name -> tensor index), eval mode. */
  readonly ctor?: readonly unknown[];
  readonly weights?: Readonly<Record<string, number>>;
  readonly eval?: boolean;
  /** backward: the invocation whose sum is differentiated (the gradient of tensor `self` is the result). */
  readonly of?: TsInvocation;
}

/** The same call in torch's terms (torch_worker.py's `invoke`). */
export interface PtInvocation {
  readonly kind: 'method' | 'torch' | 'F' | 'module' | 'index' | 'backward';
  readonly name: string;
  readonly self?: number;
  readonly args?: readonly unknown[];
  readonly kwargs?: Readonly<Record<string, unknown>>;
  readonly index?: unknown;
  readonly ctor?: readonly unknown[];
  readonly ctorKwargs?: Readonly<Record<string, unknown>>;
  readonly weights?: Readonly<Record<string, number>>;
  readonly eval?: boolean;
  readonly of?: PtInvocation;
}

export interface Call {
  readonly id: number;
  /** The generator family (the table's rows group by it) and the op. */
  readonly family: string;
  readonly op: string;
  readonly tensors: readonly TensorDesc[];
  readonly ts: TsInvocation;
  readonly pt: PtInvocation;
  /** Tensor written in place: its contents after the call are compared too. */
  readonly inplace?: number;
  /** 'shape' for random results (values are not comparable across generators). */
  readonly compare?: 'values' | 'shape';
}

/** A result as both sides encode it. */
export type Encoded =
  | { readonly $T: { readonly shape: readonly number[]; readonly dtype: string; readonly data: readonly (Num | { $i: string })[] } }
  | Num | boolean | null | { readonly $o: string } | { readonly $i: string } | readonly Encoded[];

/** What one side did with a call. */
export interface Outcome {
  readonly ok?: Encoded;
  /** The in-place target's contents after the call. */
  readonly after?: Encoded;
  /** The exception's class name (TesseraError subclasses on the Tessera side). */
  readonly raises?: string;
  readonly msg?: string;
  /** Tessera: whether the exception was a TesseraError. */
  readonly typed?: boolean;
  /** Tessera: an input's contents changed although the call raised. */
  readonly halfWrite?: string;
  /** The call's tensors could not be built (a generator mistake, not a finding). */
  readonly setup?: string;
  /** torch: the result computed with aliased inputs cloned (when torch refused a partial overlap). */
  readonly unaliased?: Encoded;
  /** torch: why the unaliased rerun failed (e.g. no kernel for the dtype). */
  readonly unaliasedError?: string;
}

export const SPECIAL_VALUES: Readonly<Record<Special, number>> = { 'nan': NaN, 'inf': Infinity, '-inf': -Infinity, '-0': -0 };

export function encodeNum(v: number): Num {
  if (Number.isNaN(v)) return { $f: 'nan' };
  if (v === Infinity) return { $f: 'inf' };
  if (v === -Infinity) return { $f: '-inf' };
  if (Object.is(v, -0)) return { $f: '-0' };
  return v;
}

export const decodeNum = (v: Num): number => (typeof v === 'number' ? v : SPECIAL_VALUES[v.$f]);
