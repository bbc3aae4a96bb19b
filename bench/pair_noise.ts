// Pixel noise of base vs model sample pairs (a report's pairs/ folder: NNN-base.png, NNN-model.png, 16x16
// images upscaled): mean absolute deviation from the median colour inside the object and along the
// border (background), per pair, with a paired bootstrap interval of model - base. Neither the taste
// nor the guard score sees this; the demo's pairs showed it.
//   deno run -R -E -S --allow-ffi bench/pair_noise.ts [PAIRS_DIR]
import sharp from "sharp";
const dir = Deno.args[0] ?? "docs/results/demo/eval/pairs";
async function px(f: string) {
  const { data, info } = await sharp(f).resize(16, 16, { kernel: "nearest" }).raw().toBuffer({
    resolveWithObject: true,
  });
  return { data, w: info.width, c: info.channels };
}
function mottle(img: { data: Uint8Array; w: number; c: number }) {
  const { data, w, c } = img, n = w * w;
  const at = (i: number) => [data[i * c], data[i * c + 1], data[i * c + 2]];
  const border: number[][] = [];
  for (let i = 0; i < n; i++) {
    const x = i % w, y = Math.floor(i / w);
    if (x === 0 || y === 0 || x === w - 1 || y === w - 1) border.push(at(i));
  }
  const med = (xs: number[]) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];
  const bg = [0, 1, 2].map((k) => med(border.map((p) => p[k])));
  const obj: number[][] = [];
  for (let i = 0; i < n; i++) {
    const p = at(i);
    if (Math.abs(p[0] - bg[0]) + Math.abs(p[1] - bg[1]) + Math.abs(p[2] - bg[2]) > 120) obj.push(p);
  }
  if (obj.length < 3) return null;
  const om = [0, 1, 2].map((k) => med(obj.map((p) => p[k])));
  const bgDev =
    border.reduce((s, p) => s + Math.abs(p[0] - bg[0]) + Math.abs(p[1] - bg[1]) + Math.abs(p[2] - bg[2]), 0) /
    border.length / 3;
  const objDev =
    obj.reduce((s, p) => s + Math.abs(p[0] - om[0]) + Math.abs(p[1] - om[1]) + Math.abs(p[2] - om[2]), 0) /
    obj.length / 3;
  return { objDev, bgDev };
}
const d: number[] = [], b: number[] = [], m: number[] = [], bgd: number[] = [];
for (let i = 0; i < 64; i++) {
  const s = String(i).padStart(3, "0");
  const a = mottle(await px(`${dir}/${s}-base.png`)), z = mottle(await px(`${dir}/${s}-model.png`));
  if (!a || !z) continue;
  b.push(a.objDev);
  m.push(z.objDev);
  d.push(z.objDev - a.objDev);
  bgd.push(z.bgDev - a.bgDev);
}
const mean = (x: number[]) => x.reduce((s, v) => s + v, 0) / x.length;
const boot = (x: number[]) => {
  const r: number[] = [];
  let seed = 1;
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  for (let k = 0; k < 2000; k++) {
    let s = 0;
    for (let j = 0; j < x.length; j++) s += x[Math.floor(rnd() * x.length)];
    r.push(s / x.length);
  }
  r.sort((p, q) => p - q);
  return [r[49], r[1949]];
};
console.log(
  `pairs ${d.length}: object mottling (mean abs deviation from the object's median colour, 0-255) base ${
    mean(b).toFixed(1)
  } seppo ${mean(m).toFixed(1)} diff ${mean(d).toFixed(1)} [${
    boot(d).map((v) => v.toFixed(1)).join(", ")
  }]; background border diff ${mean(bgd).toFixed(1)} [${boot(bgd).map((v) => v.toFixed(1)).join(", ")}]`,
);
