// Reports: Markdown and HTML carry the same tables; charts are valid SVG with one polyline per
// series and whiskers for intervals; files are written completely.
import assert from "node:assert/strict";
import { writeReport } from "../../lib/eval/report.ts";
import { barChart, lineChart, smooth } from "../../lib/eval/svg.ts";
import { host } from "../_helpers.ts";

Deno.test("charts: one polyline per series, whiskers per interval, smoothing", () => {
  const svg = lineChart("loss", [{ name: "a", points: [[0, 1], [1, 0.5]] }, {
    name: "b<c",
    points: [[0, 2], [1, 1]],
  }], {
    logY: true,
  });
  assert.equal(svg.match(/<polyline/g)?.length, 2);
  assert.match(svg, /b&lt;c/);
  const bars = barChart("score", [{ name: "x", value: 0.5, lo: 0.4, hi: 0.6 }, { name: "y", value: 0.7 }]);
  assert.equal(bars.match(/<line/g)?.length, 3, "one whisker (3 lines) for the bar with an interval");
  assert.deepEqual(smooth([[0, 1], [1, 3], [2, 5]], 2), [[0, 1], [1, 2], [2, 4]]);
});

Deno.test("writeReport: report.md and report.html with the same table and charts", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeReport(host, dir, "T", [{
      title: "S",
      blocks: [
        { kind: "text", text: "hello" },
        { kind: "table", header: ["method", "score"], rows: [["seppo", 0.81234], ["sft", 0.7]] },
        { kind: "svg", svg: lineChart("c", [{ name: "a", points: [[0, 1], [1, 2]] }]), alt: "curve" },
      ],
    }]);
    const md = await Deno.readTextFile(`${dir}/report.md`);
    const html = await Deno.readTextFile(`${dir}/report.html`);
    assert.match(md, /\| seppo \| 0\.8123 \|/);
    assert.match(md, /!\[curve\]\(chart-1\.svg\)/);
    assert.match(html, /<td>seppo<\/td><td>0\.8123<\/td>/);
    assert.match(html, /<svg/);
    assert.match(await Deno.readTextFile(`${dir}/chart-1.svg`), /^<svg/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
