// Nearest 2x upsample: float64 reference vs finite differences, GPU vs reference forward and backward.
import { backward } from "../../lib/autograd/backward.ts";
import { upsampleNearest2x } from "../../lib/ops/upsample.ts";
import { upsampleNearest2xRef, upsampleNearest2xRefBackward } from "../../lib/ref/layers.ts";
import { assertClose, checkVjp, gpu, randNd, upload, worstErrors } from "../_helpers.ts";

Deno.test("upsampleNearest2xRef VJP matches finite differences", () => {
  checkVjp(
    "upsampleRef",
    [randNd([2, 3, 2, 3], 1)],
    ([x]) => upsampleNearest2xRef(x),
    ([x], g) => [upsampleNearest2xRefBackward(x, g)],
  );
});

Deno.test("upsampleNearest2x GPU matches reference at awkward and realistic sizes", async () => {
  const ctx = await gpu();
  const cases = [[1, 1, 1, 1], [1, 3, 1, 5], [2, 3, 7, 1], [1, 5, 9, 7], [2, 3, 31, 33], [4, 64, 16, 16]];
  for (const shape of cases) {
    const label = `upsample ${JSON.stringify(shape)}`;
    const x = randNd(shape, shape[1] * 13 + shape[3]);
    const want = upsampleNearest2xRef(x);
    const gy = randNd(want.shape, 2);
    await ctx.scope(async () => {
      const tx = upload(ctx, x, true);
      const y = upsampleNearest2x(ctx, tx);
      // a pure copy: bit-exact against the f32-rounded reference
      assertClose(await y.read(), want.data.map(Math.fround), `${label} forward`, 0, 0);
      backward(ctx, y, { grad: upload(ctx, gy) });
      assertClose(
        await tx.grad!.read(),
        upsampleNearest2xRefBackward(x, gy).data,
        `${label} grad`,
        1e-6,
        1e-6,
      );
    });
  }
  for (const [k, v] of worstErrors) if (k.startsWith("upsample ")) console.log(`${k}: ${v.toExponential(2)}`);
});
