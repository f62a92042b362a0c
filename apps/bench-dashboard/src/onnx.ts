/**
 * onnxruntime-node as a peer: one-node ONNX models (MatMul, Add, Mul, Exp) built here, run on ORT's
 * CPU execution provider. The model bytes come from a minimal protobuf writer for the few ONNX
 * messages a one-node graph needs (field numbers from onnx.proto).
 */
import os from 'node:os';
import * as ort from 'onnxruntime-node';

/** Protobuf wire format: varints and length-delimited fields, enough for ModelProto. */
class Proto {
  private readonly bytes: number[] = [];
  private varint(v: number | bigint): void {
    let x = BigInt(v);
    do {
      let b = Number(x & 0x7fn);
      x >>= 7n;
      if (x > 0n) b |= 0x80;
      this.bytes.push(b);
    } while (x > 0n);
  }
  /** A varint field; negative int64 values are sent as their two's complement (10 bytes). */
  int(field: number, v: number): this { this.varint((field << 3) | 0); this.varint(BigInt.asUintN(64, BigInt(v))); return this; }
  bytesField(field: number, data: Uint8Array): this { this.varint((field << 3) | 2); this.varint(data.length); this.bytes.push(...data); return this; }
  str(field: number, s: string): this { return this.bytesField(field, new TextEncoder().encode(s)); }
  msg(field: number, m: Proto): this { return this.bytesField(field, m.done()); }
  done(): Uint8Array { return Uint8Array.from(this.bytes); }
}

const FLOAT = 1; // TensorProto.DataType.FLOAT

/** ValueInfoProto for a float32 tensor of a fixed shape. */
function valueInfo(name: string, shape: readonly number[]): Proto {
  const dims = new Proto();
  for (const d of shape) dims.msg(1, new Proto().int(1, d)); // TensorShapeProto.dim { dim_value }
  const tensor = new Proto().int(1, FLOAT).msg(2, dims); // TypeProto.Tensor { elem_type, shape }
  return new Proto().str(1, name).msg(2, new Proto().msg(1, tensor)); // ValueInfoProto { name, type { tensor_type } }
}

/** AttributeProto for an INT (type 2) or INTS (type 7) attribute. */
function attribute(name: string, v: number | readonly number[]): Proto {
  const a = new Proto().str(1, name);
  if (typeof v === 'number') return a.int(3, v).int(20, 2);
  for (const x of v) a.int(8, x);
  return a.int(20, 7);
}

export type OnnxAttrs = Readonly<Record<string, number | readonly number[]>>;

/** A model with one node `op` (with integer attributes) over inputs x0..x{k-1} of the given shapes, producing y. */
export function oneNodeModel(op: string, inputs: readonly (readonly number[])[], output: readonly number[], attrs: OnnxAttrs = {}): Uint8Array {
  const names = inputs.map((_, i) => `x${i}`);
  const node = new Proto();
  for (const n of names) node.str(1, n);
  node.str(2, 'y').str(4, op); // NodeProto { input, output, op_type, attribute }
  for (const [k, v] of Object.entries(attrs)) node.msg(5, attribute(k, v));
  const graph = new Proto().msg(1, node).str(2, `${op.toLowerCase()}-bench`);
  inputs.forEach((s, i) => graph.msg(11, valueInfo(names[i]!, s)));
  graph.msg(12, valueInfo('y', output));
  // ModelProto { ir_version 8, producer_name, graph, opset_import { domain '', version 17 } }
  return new Proto().int(1, 8).str(2, 'tessera-bench').msg(7, graph).msg(8, new Proto().str(1, '').int(2, 17)).done();
}

/** Threads ORT may use: as many as the machine has cores, as the native backend's pool. */
export const ORT_THREADS = os.cpus().length;

export interface OrtCase {
  readonly run: () => Promise<Float32Array>;
  readonly release: () => Promise<void>;
}

/** An ORT session for a one-node model, with its inputs bound once; `run` returns the output. */
export async function ortCase(op: string, operands: readonly { shape: number[]; data: Float32Array }[], output: readonly number[], attrs?: OnnxAttrs): Promise<OrtCase> {
  const session = await ort.InferenceSession.create(oneNodeModel(op, operands.map((o) => o.shape), output, attrs), {
    executionProviders: ['cpu'], intraOpNumThreads: ORT_THREADS, interOpNumThreads: 1, graphOptimizationLevel: 'all',
  });
  const feeds = Object.fromEntries(operands.map((o, i) => [`x${i}`, new ort.Tensor('float32', o.data, o.shape)]));
  return {
    run: async () => (await session.run(feeds))['y']!.data as Float32Array,
    release: () => session.release(),
  };
}
