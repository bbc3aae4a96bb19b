// Softmax over the last axis: float64 reference vs finite differences, GPU vs reference forward and
// backward at awkward sizes, large logits, and the masked / scaled variant used by attention.
import { backward } from "../../lib/autograd/backward.ts";
import { ROW_MAX, softmax, softmaxBackwardRaw, softmaxRaw } from "../../lib/ops/softmax.ts";
import { softmaxRef, softmaxRefBackward } from "../../lib/ref/layers.ts";
import { assertClose, checkVjp, gpu, randNd, upload, worstErrors } from "../_helpers.ts";

function printWorst(prefix: string) {
  for (const [k, v] of worstErrors) if (k.startsWith(prefix)) console.log(`${k}: ${v.toExponential(2)}`);
}

Deno.test("softmaxRef VJP matches finite differences (plain, scaled and masked)", () => {
  checkVjp("softmaxRef", [randNd([3, 7], 1, -2, 2)], ([x]) => softmaxRef(x), ([x], g) => [
    softmaxRefBackward(softmaxRef(x), g),
  ]);
  const allowed = (r: number, j: number) => j <= r && j !== 1;
  checkVjp(
    "softmaxRef masked, scale 0.3",
    [randNd([4, 5], 2, -2, 2)],
    ([x]) => softmaxRef(x, allowed, 0.3),
    ([x], g) => [softmaxRefBackward(softmaxRef(x, allowed, 0.3), g, 0.3)],
  );
});

Deno.test("softmax GPU matches reference at awkward and realistic sizes", async () => {
  const ctx = await gpu();
  const cases: [number[], number][] = [
    [[1], 1],
    [[1, 1], 1],
    [[3, 63], 4],
    [[2, 65], 4],
    [[5, 129], 4],
    [[2, 3, 1000], 60], // logits up to +-60: exp overflows without the max shift
    [[3, ROW_MAX], 8], // last length on the thread-per-row kernels
    [[3, ROW_MAX + 1], 8], // first length on the workgroup-per-row kernels
    [[2, 4097], 60], // workgroup per row, 65 elements per thread
    [[2 * 8 * 256, 77], 4], // attention scores of the realistic cross-attention shape
  ];
  for (const [shape, amp] of cases) {
    const label = `softmax ${JSON.stringify(shape)}`;
    const x = randNd(shape, shape.length * 31 + shape.at(-1)!, -amp, amp);
    const want = softmaxRef(x);
    const gy = randNd(shape, 5);
    await ctx.scope(async () => {
      const tx = upload(ctx, x, true);
      const y = softmax(ctx, tx);
      assertClose(await y.read(), want.data, `${label} forward`, 1e-6, 1e-4);
      backward(ctx, y, { grad: upload(ctx, gy) });
      assertClose(await tx.grad!.read(), softmaxRefBackward(want, gy).data, `${label} grad`, 1e-6, 1e-4);
    });
  }
  printWorst("softmax [");
});

Deno.test("masked scaled softmax: key mask, causal, fully masked rows give zeros", async () => {
  // rows = [batch 3, Lq 5], N keys (both kernel layouts); batch 1 has every key masked
  for (const N of [70, ROW_MAX + 3]) await checkMasked(N);
  printWorst("softmax masked");
});

async function checkMasked(N: number) {
  const ctx = await gpu();
  const [Bm, Lq, scale] = [3, 5, 0.37];
  const x = randNd([Bm, Lq, N], 9, -4, 4);
  const maskNd = randNd([Bm, N], 10, 0, 1);
  maskNd.data = maskNd.data.map((v, i) => (Math.floor(i / N) === 1 ? 0 : v < 0.7 ? 1 : 0));
  for (const causal of [false, true]) {
    const label = `softmax masked N=${N} causal=${causal}`;
    const allowed = (r: number, j: number) =>
      maskNd.data[Math.floor(r / Lq) * N + j] >= 0.5 && (!causal || j <= r % Lq);
    const want = softmaxRef(x, allowed, scale);
    const gy = randNd(x.shape, 11);
    await ctx.scope(async () => {
      const m = { scale, keyMask: upload(ctx, maskNd), rowsPerBatch: Lq, causal, Lq };
      const y = softmaxRaw(ctx, upload(ctx, x), m);
      const got = await y.read();
      if (got.some((v) => Number.isNaN(v))) throw new Error(`${label}: NaN in output`);
      assertClose(got, want.data, `${label} forward`, 1e-6, 1e-4);
      const gx = softmaxBackwardRaw(ctx, y, upload(ctx, gy), m);
      assertClose(await gx.read(), softmaxRefBackward(want, gy, scale).data, `${label} grad`, 1e-6, 1e-4);
    });
  }
}
