/**
 * Gradient rules live in the specs (as PyTorch's derivatives.yaml: one formula per operand) and are
 * written with tensor methods, so the backward pass is itself differentiable (grad of grad). This file
 * names the tensor surface they may use; @tessera/tensor checks at compile time that its Tensor has it.
 */
/** An operand of a tensor method: another tensor or a JS scalar. */
export type GradOperand = GradTensor | number | boolean;

export interface GradTensor {
  readonly shape: readonly number[];
  add(o: GradOperand): GradTensor;
  sub(o: GradOperand): GradTensor;
  mul(o: GradOperand): GradTensor;
  div(o: GradOperand): GradTensor;
  pow(o: GradOperand): GradTensor;
  neg(): GradTensor;
  exp(): GradTensor;
  log(): GradTensor;
  sin(): GradTensor;
  cos(): GradTensor;
  erf(): GradTensor;
  tanh(): GradTensor;
  sigmoid(): GradTensor;
  sign(): GradTensor;
  floor(): GradTensor;
  trunc(): GradTensor;
  square(): GradTensor;
  gt(o: GradOperand): GradTensor;
  lt(o: GradOperand): GradTensor;
  ge(o: GradOperand): GradTensor;
  eq(o: GradOperand): GradTensor;
  logicalAnd(o: GradOperand): GradTensor;
  logicalNot(): GradTensor;
  /** where(condition, this, other) */
  where(condition: GradTensor, other: GradOperand): GradTensor;
}

/** What a rule sees: the output gradient, the operands (scalars arrive as 0-d tensors), the output and the params. */
export interface GradContext {
  readonly g: GradTensor;
  readonly out: GradTensor;
  readonly a: GradTensor;
  readonly b: GradTensor;
  readonly c: GradTensor;
  readonly p: Readonly<Record<string, number>>;
  /** Another elementwise spec (by name) on these operands: for a rule that is itself one fused op. */
  op(name: string, operands: readonly GradOperand[], params?: Readonly<Record<string, number>>): GradTensor;
}

/** One entry per operand: its vector-Jacobian product, or undefined where the operand has no gradient. */
export type GradRule = readonly (((c: GradContext) => GradTensor) | undefined)[];
