// GEGLU: float64 reference vs finite differences, GPU vs reference forward and backward.
import { backward } from "../../lib/autograd/backward.ts";
import { geglu } from "../../lib/ops/geglu.ts";
import { gegluRef, gegluRefBackward } from "../../lib/ref/layers.ts";
import { assertClose, checkVjp, gpu, randNd, upload, worstErrors } from "../_helpers.ts";

Deno.test("gegluRef VJP matches finite differences", () => {
  checkVjp(
    "gegluRef",
    [randNd([3, 10], 1, -3, 3)],
    ([x]) => gegluRef(x),
    ([x], g) => [gegluRefBackward(x, g)],
  );
});

Deno.test("geglu GPU matches reference at awkward and realistic sizes", async () => {
  const ctx = await gpu();
  // [65537, 2]: rows past the grid's y, folded into z
  const cases = [[2], [1, 2], [3, 126], [2, 5, 130], [7, 66], [2, 256, 2 * 320], [65537, 2]];
  for (const shape of cases) {
    const label = `geglu ${JSON.stringify(shape)}`;
    const x = randNd(shape, shape.length * 17 + shape.at(-1)!, -4, 4);
    const want = gegluRef(x);
    const gy = randNd(want.shape, 3);
    await ctx.scope(async () => {
      const tx = upload(ctx, x, true);
      const y = geglu(ctx, tx);
      if (JSON.stringify(y.shape) !== JSON.stringify(want.shape)) {
        throw new Error(`${label}: shape ${y.shape} != ${want.shape}`);
      }
      // erf_approx is accurate to 1.5e-7 absolute, so atol sits a little above that times |x| <= 4
      assertClose(await y.read(), want.data, `${label} forward`, 2e-6, 1e-5);
      backward(ctx, y, { grad: upload(ctx, gy) });
      assertClose(await tx.grad!.read(), gegluRefBackward(x, gy).data, `${label} grad`, 2e-6, 1e-5);
    });
  }
  for (const [k, v] of worstErrors) if (k.startsWith("geglu")) console.log(`${k}: ${v.toExponential(2)}`);
});
