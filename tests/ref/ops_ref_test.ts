// The float64 references are proven against central finite differences (random upstream gradient).
import * as R from "../../lib/ref/ops.ts";
import { checkVjp, randNd } from "../_helpers.ts";

Deno.test("ref: unary VJPs match finite differences", () => {
  for (const op of Object.keys(R.UNARY_REF)) {
    const positive = op === "log" || op === "sqrt";
    const x = randNd([3, 7], 11, positive ? 0.2 : -2, positive ? 3 : 2);
    if (op === "relu") x.data.forEach((v, i) => (x.data[i] = Math.abs(v) < 1e-3 ? 0.5 : v));
    checkVjp(`unary ${op}`, [x], ([a]) => R.unaryRef(op, a), ([a], g) => [R.unaryRefBackward(op, a, g)]);
  }
});

Deno.test("ref: erf matches known values", () => {
  const cases: [number, number][] = [[0.5, 0.5204998778130465], [1, 0.8427007929497149], [
    2.5,
    0.9995930479825550,
  ], [
    3.5,
    0.9999992569016276,
  ]];
  for (const [x, want] of cases) {
    if (Math.abs(R.erf(x) - want) > 1e-13 || Math.abs(R.erf(-x) + want) > 1e-13) {
      throw new Error(`erf(${x}) = ${R.erf(x)}, want ${want}`);
    }
  }
});

Deno.test("ref: broadcasting binary VJPs match finite differences", () => {
  const shapes: [number[], number[]][] = [[[2, 3, 4], [4]], [[2, 1, 4], [3, 1]], [[5], [5]], [[1], [2, 3]]];
  for (const op of ["add", "sub", "mul", "div"]) {
    for (const [sa, sb] of shapes) {
      const a = randNd(sa, 3), b = randNd(sb, 4, 0.5, 2);
      checkVjp(
        `binary ${op} [${sa}] [${sb}]`,
        [a, b],
        ([x, y]) => R.binaryRef(op, x, y),
        ([x, y], g) => R.binaryRefBackward(op, x, y, g),
      );
    }
  }
});

Deno.test("ref: reductions and mseRows VJPs match finite differences", () => {
  const x = randNd([2, 3, 5], 5);
  for (const axes of [[0], [1, 2], [0, 2], [0, 1, 2]]) {
    checkVjp(`sum ${axes}`, [x], ([a]) => R.sumRef(a, axes), ([a], g) => [R.sumRefBackward(a, axes, g)]);
  }
  const y = randNd([2, 3, 5], 6);
  checkVjp("mseRows", [x, y], ([a, b]) => R.mseRowsRef(a, b), ([a, b], g) => R.mseRowsRefBackward(a, b, g));
});

Deno.test("ref: matmul VJPs (all transposes, batch broadcast) match finite differences", () => {
  for (const ta of [false, true]) {
    for (const tb of [false, true]) {
      const a = randNd(ta ? [2, 4, 3] : [2, 3, 4], 8);
      const b = randNd(tb ? [1, 5, 4] : [1, 4, 5], 9);
      checkVjp(
        `matmul ta=${ta} tb=${tb}`,
        [a, b],
        ([x, y]) => R.matmulRef(x, y, ta, tb),
        ([x, y], g) => R.matmulRefBackward(x, y, g, ta, tb),
      );
    }
  }
});

Deno.test("ref: linear (x W^T + bias + residual) VJP matches finite differences", () => {
  const [R_, I, O] = [3, 4, 5];
  checkVjp(
    "linear",
    [randNd([R_, I], 1), randNd([O, I], 2), randNd([O], 3), randNd([R_, O], 4)],
    ([x, w, b, r]) => R.linearRef(x, w, b, r),
    ([x, w], g) => R.linearRefBackward(x, w, g),
  );
});
