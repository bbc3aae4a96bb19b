// Small, dependency-free SVG charts for the HTML report: line plots (training curves) and
// horizontal bars with confidence intervals (scores per method).

export interface Series {
  name: string;
  points: [number, number][];
}

const PALETTE = [
  "#1f77b4",
  "#d62728",
  "#2ca02c",
  "#ff7f0e",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#17becf",
  "#7f7f7f",
];
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const fmt = (
  v: number,
) => (Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(1) : +v.toFixed(3) + "");

/** Moving average over `window` points (smooths noisy per-step losses). */
export function smooth(points: [number, number][], window: number): [number, number][] {
  if (window <= 1) return points;
  return points.map(([x], i) => {
    const lo = Math.max(0, i - window + 1);
    const slice = points.slice(lo, i + 1);
    return [x, slice.reduce((a, p) => a + p[1], 0) / slice.length];
  });
}

/** A line chart of several series sharing axes. */
export function lineChart(
  title: string,
  series: Series[],
  o: { xLabel?: string; yLabel?: string; logY?: boolean } = {},
) {
  const W = 560, H = 300, L = 60, R = 150, T = 30, B = 40;
  const all = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y) && (!o.logY || y > 0));
  if (!all.length) {
    return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><text x="10" y="20">${
      esc(title)
    }: no data</text></svg>`;
  }
  const ty = (y: number) => (o.logY ? Math.log10(y) : y);
  const xs = all.map((p) => p[0]), ys = all.map((p) => ty(p[1]));
  let [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  if (x0 === x1) x1 = x0 + 1;
  if (y0 === y1) (y0 -= 0.5, y1 += 0.5);
  const px = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const py = (y: number) => T + (1 - (ty(y) - y0) / (y1 - y0)) * (H - T - B);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<text x="${L}" y="16" font-size="13" font-weight="bold">${esc(title)}</text>`,
    `<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="none" stroke="#999"/>`,
  ];
  for (let k = 0; k <= 4; k++) {
    const yv = y0 + ((y1 - y0) * k) / 4, yy = T + (1 - k / 4) * (H - T - B);
    const label = o.logY ? fmt(10 ** yv) : fmt(yv);
    parts.push(`<text x="${L - 4}" y="${yy + 3}" text-anchor="end">${label}</text>`);
    const xv = x0 + ((x1 - x0) * k) / 4;
    parts.push(`<text x="${px(xv)}" y="${H - B + 14}" text-anchor="middle">${fmt(xv)}</text>`);
  }
  if (o.xLabel) {
    parts.push(`<text x="${(L + W - R) / 2}" y="${H - 6}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  }
  if (o.yLabel) {
    parts.push(
      `<text x="12" y="${(T + H - B) / 2}" transform="rotate(-90 12 ${
        (T + H - B) / 2
      })" text-anchor="middle">${esc(o.yLabel)}</text>`,
    );
  }
  series.forEach((s, i) => {
    const c = PALETTE[i % PALETTE.length];
    const pts = s.points.filter(([, y]) => Number.isFinite(y) && (!o.logY || y > 0));
    if (pts.length) {
      parts.push(
        `<polyline fill="none" stroke="${c}" stroke-width="1.5" points="${
          pts.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(" ")
        }"/>`,
      );
    }
    parts.push(`<rect x="${W - R + 10}" y="${T + 14 * i}" width="10" height="10" fill="${c}"/>`);
    parts.push(`<text x="${W - R + 24}" y="${T + 9 + 14 * i}">${esc(s.name)}</text>`);
  });
  parts.push("</svg>");
  return parts.join("\n");
}

export interface Bar {
  name: string;
  value: number;
  lo?: number;
  hi?: number;
}

/** Horizontal bars with optional [lo, hi] whiskers (e.g. 95% bootstrap intervals). */
export function barChart(title: string, bars: Bar[], o: { min?: number; max?: number } = {}) {
  const W = 560, rowH = 22, L = 150, R = 70, T = 30;
  const H = T + rowH * bars.length + 20;
  const vals = bars.flatMap((b) => [b.value, b.lo ?? b.value, b.hi ?? b.value]).filter(Number.isFinite);
  const lo = o.min ?? Math.min(0, ...vals), hi = o.max ?? Math.max(...vals, lo + 1e-9);
  const px = (v: number) => L + ((v - lo) / (hi - lo)) * (W - L - R);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<text x="10" y="16" font-size="13" font-weight="bold">${esc(title)}</text>`,
  ];
  bars.forEach((b, i) => {
    const y = T + i * rowH;
    const c = PALETTE[i % PALETTE.length];
    parts.push(`<text x="${L - 6}" y="${y + 14}" text-anchor="end">${esc(b.name)}</text>`);
    parts.push(
      `<rect x="${px(lo)}" y="${y + 3}" width="${Math.max(0, px(b.value) - px(lo))}" height="${
        rowH - 8
      }" fill="${c}" opacity="0.75"/>`,
    );
    if (b.lo !== undefined && b.hi !== undefined) {
      parts.push(`<line x1="${px(b.lo)}" x2="${px(b.hi)}" y1="${y + 11}" y2="${y + 11}" stroke="#000"/>`);
      for (const v of [b.lo, b.hi]) {
        parts.push(`<line x1="${px(v)}" x2="${px(v)}" y1="${y + 6}" y2="${y + 16}" stroke="#000"/>`);
      }
    }
    parts.push(`<text x="${W - R + 6}" y="${y + 14}">${fmt(b.value)}</text>`);
  });
  parts.push("</svg>");
  return parts.join("\n");
}
