/**
 * Gradient rules live in the specs (as PyTorch's derivatives.yaml: one formula per operand) and are
 * written with tensor methods, so the backward pass is itself differentiable (grad of grad). This file
 * names the tensor surface they may use; @tessera/tensor checks at compile time that its Tensor has it.
 */
/** An operand of a tensor method: another tensor or a JS scalar. */
export type GradOperand = GradTensor | number | boolean;

/**
 * The slice of Tensor a gradient rule may call: all broadcasting, differentiable elementwise methods, so a
 * rule's result is recorded and can be differentiated again.
 */
export interface GradTensor {
  /** The tensor's shape; rules read it, the engine sums broadcast gradients back to the operand's shape. */
  readonly shape: readonly number[];
  /** Elementwise `this + o`. */
  add(o: GradOperand): GradTensor;
  /** Elementwise `this - o`. */
  sub(o: GradOperand): GradTensor;
  /** Elementwise `this * o`. */
  mul(o: GradOperand): GradTensor;
  /** Elementwise true division `this / o`. */
  div(o: GradOperand): GradTensor;
  /** Elementwise `this ** o`. */
  pow(o: GradOperand): GradTensor;
  /** Elementwise `-this`. */
  neg(): GradTensor;
  /** Elementwise e^x. */
  exp(): GradTensor;
  /** Elementwise natural log. */
  log(): GradTensor;
  /** Elementwise sine (radians). */
  sin(): GradTensor;
  /** Elementwise cosine (radians). */
  cos(): GradTensor;
  /** Elementwise Gauss error function. */
  erf(): GradTensor;
  /** Elementwise hyperbolic tangent. */
  tanh(): GradTensor;
  /** Elementwise logistic function 1 / (1 + e^-x). */
  sigmoid(): GradTensor;
  /** Elementwise -1, 0 or 1 by the sign of x (torch.sign). */
  sign(): GradTensor;
  /** Elementwise rounding toward -inf. */
  floor(): GradTensor;
  /** Elementwise rounding toward zero. */
  trunc(): GradTensor;
  /** Elementwise x * x. */
  square(): GradTensor;
  /** Elementwise `this > o`, as a bool tensor (for masks in piecewise derivatives). */
  gt(o: GradOperand): GradTensor;
  /** Elementwise `this < o`, as a bool tensor. */
  lt(o: GradOperand): GradTensor;
  /** Elementwise `this >= o`, as a bool tensor. */
  ge(o: GradOperand): GradTensor;
  /** Elementwise `this == o`, as a bool tensor (ties in max/min split the gradient). */
  eq(o: GradOperand): GradTensor;
  /** Elementwise logical and of two masks, as a bool tensor. */
  logicalAnd(o: GradOperand): GradTensor;
  /** Elementwise logical not of a mask, as a bool tensor. */
  logicalNot(): GradTensor;
  /** where(condition, this, other) */
  where(condition: GradTensor, other: GradOperand): GradTensor;
}

/** What a rule sees: the output gradient, the operands (scalars arrive as 0-d tensors), the output and the params. */
export interface GradContext {
  /** The gradient flowing into the op's output, shaped like `out`. */
  readonly g: GradTensor;
  /** The op's forward result, for rules cheaper in terms of it (exp, sigmoid, tanh). */
  readonly out: GradTensor;
  /** Operand 0 as the forward pass saw it. */
  readonly a: GradTensor;
  /** Operand 1 (binary and ternary ops only). */
  readonly b: GradTensor;
  /** Operand 2 (ternary ops only). */
  readonly c: GradTensor;
  /** The values of the spec's named params this call used, defaults filled in. */
  readonly p: Readonly<Record<string, number>>;
  /** Another elementwise spec (by name) on these operands: for a rule that is itself one fused op. */
  op(name: string, operands: readonly GradOperand[], params?: Readonly<Record<string, number>>): GradTensor;
}

/** One entry per operand: its vector-Jacobian product, or undefined where the operand has no gradient. */
export type GradRule = readonly (((c: GradContext) => GradTensor) | undefined)[];
