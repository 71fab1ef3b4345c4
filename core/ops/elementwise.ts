/**
 * Elementwise ops with NumPy broadcasting, each with its backward rule beside its forward.
 *
 * @module
 */
import { attach } from "../autograd.ts";
import { backwardHooks, Tensor } from "../tensor.ts";
import { binary, type BinaryOp, unary, type UnaryOp } from "../../kernels/elementwise.wgsl.ts";
import { broadcastShapes, sumTo } from "./broadcast.ts";

function checkF32(op: string, ...ts: Tensor[]): void {
  for (const t of ts) {
    if (t.dtype !== "f32") {
      throw new Error(`${op}: expected f32 tensors, got ${t.dtype} [${t.shape}]`);
    }
  }
}

/** Applies a unary map without recording a node. */
export function mapUnary(op: UnaryOp, x: Tensor, s = 0): Tensor {
  checkF32(op, x);
  const y = new Tensor(x.shape, "f32");
  unary(op, x.buffer, y.buffer, x.size, s);
  return y;
}

/** Applies a binary map with broadcasting without recording a node. */
export function mapBinary(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  checkF32(op, a, b);
  const shape = broadcastShapes(a.shape, b.shape);
  const y = new Tensor(shape, "f32");
  binary(op, a.buffer, a.shape, b.buffer, b.shape, y.buffer, shape);
  return y;
}

/**
 * An input's gradient, computed only when that input requires one: a constant operand (a mask, a
 * target, a model input) then costs no backward kernels.
 */
function ifNeeded(input: Tensor, grad: () => Tensor): Tensor | null {
  return input.requiresGrad ? grad() : null;
}

/** a + b (b may be a number). */
export function add(a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === "number") return attach(mapUnary("add_s", a, b), "add", [a], (g) => [g]);
  return attach(
    mapBinary("add", a, b),
    "add",
    [a, b],
    (g) => [ifNeeded(a, () => sumTo(g, a.shape)), ifNeeded(b, () => sumTo(g, b.shape))],
  );
}

/** a − b (b may be a number). */
export function sub(a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === "number") return add(a, -b);
  return attach(
    mapBinary("sub", a, b),
    "sub",
    [a, b],
    (g) => [
      ifNeeded(a, () => sumTo(g, a.shape)),
      ifNeeded(b, () => sumTo(mapUnary("neg", g), b.shape)),
    ],
  );
}

/** a · b (b may be a number). */
export function mul(a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === "number") {
    return attach(mapUnary("mul_s", a, b), "mul", [a], (g) => [mapUnary("mul_s", g, b)]);
  }
  return attach(
    mapBinary("mul", a, b),
    "mul",
    [a, b],
    (g) => [
      ifNeeded(a, () => sumTo(mapBinary("mul", g, b), a.shape)),
      ifNeeded(b, () => sumTo(mapBinary("mul", g, a), b.shape)),
    ],
  );
}

/** a / b (b may be a number). */
export function div(a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === "number") return mul(a, 1 / b);
  return attach(mapBinary("div", a, b), "div", [a, b], (g) => {
    const ga = mapBinary("div", g, b);
    return [
      ifNeeded(a, () => sumTo(ga, a.shape)),
      ifNeeded(
        b,
        () => sumTo(mapUnary("neg", mapBinary("div", mapBinary("mul", ga, a), b)), b.shape),
      ),
    ];
  });
}

/**
 * a ** b. With a number exponent, negative bases follow the sign rule of odd integer powers;
 * with a tensor exponent the base must be positive (as `exp(b·log a)`).
 */
export function pow(a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === "number") {
    return attach(mapUnary("pow_s", a, b), "pow", [a], (g) => {
      const d = mapUnary("mul_s", mapUnary("pow_s", a, b - 1), b);
      return [mapBinary("mul", g, d)];
    });
  }
  const out = mapBinary("pow", a, b);
  return attach(out, "pow", [a, b], (g) => {
    const ga = () =>
      mapBinary("mul", g, mapBinary("mul", b, mapBinary("pow", a, mapUnary("add_s", b, -1))));
    const gb = () => mapBinary("mul", g, mapBinary("mul", out, mapUnary("log", a)));
    return [ifNeeded(a, () => sumTo(ga(), a.shape)), ifNeeded(b, () => sumTo(gb(), b.shape))];
  });
}

/** Elementwise maximum (gradient goes to `a` where a ≥ b, else to `b`). */
export function maximum(a: Tensor, b: Tensor): Tensor {
  return attach(mapBinary("maximum", a, b), "maximum", [a, b], (g) => {
    const bWins = mapBinary("gt", b, a);
    return [
      ifNeeded(a, () => sumTo(mapBinary("mul", g, mapUnary("rsub_s", bWins, 1)), a.shape)),
      ifNeeded(b, () => sumTo(mapBinary("mul", g, bWins), b.shape)),
    ];
  });
}

/** −x. */
export function neg(x: Tensor): Tensor {
  return attach(mapUnary("neg", x), "neg", [x], (g) => [mapUnary("neg", g)]);
}

/** eˣ. */
export function exp(x: Tensor): Tensor {
  const y = mapUnary("exp", x);
  return attach(y, "exp", [x], (g) => [mapBinary("mul", g, y)]);
}

/** Natural logarithm. */
export function log(x: Tensor): Tensor {
  return attach(mapUnary("log", x), "log", [x], (g) => [mapBinary("div", g, x)]);
}

/** √x. */
export function sqrt(x: Tensor): Tensor {
  const y = mapUnary("sqrt", x);
  return attach(y, "sqrt", [x], (g) => [mapUnary("mul_s", mapBinary("div", g, y), 0.5)]);
}

/** |x| (subgradient 0 at 0). */
export function abs(x: Tensor): Tensor {
  return attach(mapUnary("abs", x), "abs", [x], (g) => [mapBinary("mul", g, mapUnary("sign", x))]);
}

/** max(x, 0). */
export function relu(x: Tensor): Tensor {
  return attach(mapUnary("relu", x), "relu", [x], (g) => [mapBinary("relu_bwd", x, g)]);
}

/** GELU, tanh approximation: 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))). */
export function gelu(x: Tensor): Tensor {
  return attach(mapUnary("gelu", x), "gelu", [x], (g) => [mapBinary("gelu_bwd", x, g)]);
}

/** x·σ(x). */
export function silu(x: Tensor): Tensor {
  return attach(mapUnary("silu", x), "silu", [x], (g) => [mapBinary("silu_bwd", x, g)]);
}

/** tanh(x). */
export function tanh(x: Tensor): Tensor {
  const y = mapUnary("tanh", x);
  return attach(y, "tanh", [x], (g) => [mapBinary("tanh_bwd", y, g)]);
}

/** σ(x) = 1 / (1 + e⁻ˣ). */
export function sigmoid(x: Tensor): Tensor {
  const y = mapUnary("sigmoid", x);
  return attach(y, "sigmoid", [x], (g) => [mapBinary("sigmoid_bwd", y, g)]);
}

/** 1 where a > b else 0 (no gradient). */
export function gt(a: Tensor, b: Tensor | number): Tensor {
  return typeof b === "number" ? mapUnary("gt_s", a, b) : mapBinary("gt", a, b);
}

/** 1 where a < b else 0 (no gradient). */
export function lt(a: Tensor, b: Tensor | number): Tensor {
  return typeof b === "number" ? mapUnary("lt_s", a, b) : mapBinary("lt", a, b);
}

/** 1 where a == b else 0 (no gradient). */
export function eq(a: Tensor, b: Tensor | number): Tensor {
  return typeof b === "number" ? mapUnary("eq_s", a, b) : mapBinary("eq", a, b);
}

backwardHooks.add = (a, b) => mapBinary("add", a, b);
