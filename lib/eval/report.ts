// Reports as Markdown and HTML from one structure: sections of paragraphs, tables, SVG charts and
// images. Written atomically; images are referenced by relative path.
import { writeFileAtomic } from "../io/atomic.ts";
import type { Host } from "../host/host.ts";

export type Block =
  /** A paragraph; `verdict` marks the answer a report leads with (highlighted). */
  | { kind: "text"; text: string; verdict?: boolean }
  | { kind: "table"; header: string[]; rows: (string | number)[][] }
  | { kind: "svg"; svg: string; alt: string }
  | { kind: "image"; src: string; alt: string }
  /** Side-by-side samples (e.g. base | model on the same prompt and seed), a caption under each pair. */
  | { kind: "pairs"; labels: [string, string]; pairs: { left: string; right: string; caption: string }[] };

export interface Section {
  title: string;
  blocks: Block[];
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const cell = (
  v: string | number,
) => (typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(4)) : v);

export function toMarkdown(title: string, sections: Section[], svgFiles: Map<Block, string>): string {
  const out = [`# ${title}`, ""];
  for (const s of sections) {
    out.push(`## ${s.title}`, "");
    for (const b of s.blocks) {
      if (b.kind === "text") out.push(b.verdict ? `> **${b.text}**` : b.text, "");
      else if (b.kind === "table") {
        out.push(`| ${b.header.join(" | ")} |`, `|${b.header.map(() => "---").join("|")}|`);
        for (const r of b.rows) out.push(`| ${r.map(cell).join(" | ")} |`);
        out.push("");
      } else if (b.kind === "svg") out.push(`![${b.alt}](${svgFiles.get(b)})`, "");
      else if (b.kind === "pairs") {
        out.push(`| ${b.labels[0]} | ${b.labels[1]} | prompt |`, "|---|---|---|");
        for (const p of b.pairs) out.push(`| ![](${p.left}) | ![](${p.right}) | ${p.caption} |`);
        out.push("");
      } else out.push(`![${b.alt}](${b.src})`, "");
    }
  }
  return out.join("\n");
}

export function toHtml(title: string, sections: Section[]): string {
  const body: string[] = [];
  for (const s of sections) {
    body.push(`<h2>${esc(s.title)}</h2>`);
    for (const b of s.blocks) {
      if (b.kind === "text") {
        body.push(`<p${b.verdict ? ' class="verdict"' : ""}>${esc(b.text).replace(/\n/g, "<br>")}</p>`);
      } else if (b.kind === "table") {
        body.push("<table><tr>" + b.header.map((h) => `<th>${esc(h)}</th>`).join("") + "</tr>");
        for (const r of b.rows) {
          body.push("<tr>" + r.map((v) => `<td>${esc(cell(v))}</td>`).join("") + "</tr>");
        }
        body.push("</table>");
      } else if (b.kind === "svg") body.push(`<figure>${b.svg}</figure>`);
      else if (b.kind === "pairs") {
        const img = (src: string, alt: string) => `<img src="${esc(src)}" alt="${esc(alt)}" class="px">`;
        body.push(
          `<p class="legend">Each pair: ${esc(b.labels[0])} (left), ${esc(b.labels[1])} (right).</p>`,
          '<div class="pairs">' +
            b.pairs.map((p) =>
              `<figure class="pair">${img(p.left, b.labels[0])}${img(p.right, b.labels[1])}` +
              `<figcaption>${esc(p.caption)}</figcaption></figure>`
            ).join("") + "</div>",
        );
      } else {body.push(
          `<figure><img src="${esc(b.src)}" alt="${
            esc(b.alt)
          }" style="image-rendering: pixelated; max-width: 100%"><figcaption>${
            esc(b.alt)
          }</figcaption></figure>`,
        );}
    }
  }
  return `<!doctype html><html><head><meta charset="utf-8"><title>${esc(title)}</title><style>
body { font-family: sans-serif; max-width: 1000px; margin: 2em auto; }
table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f3f3f3; } td:first-child { text-align: left; }
.pairs { display: flex; flex-wrap: wrap; gap: 6px; } .pair { margin: 0; width: 140px; font-size: 11px; }
.pair img { width: 64px; height: 64px; margin-right: 4px; } .px { image-rendering: pixelated; }
.verdict { font-size: 1.15em; padding: 0.5em 0.8em; background: #f5f8ff; border-left: 4px solid #4a7; }
</style></head><body><h1>${esc(title)}</h1>
${body.join("\n")}
</body></html>`;
}

/** Writes report.md (charts as .svg files beside it) and report.html (charts inline) into `dir`. */
export async function writeReport(host: Host, dir: string, title: string, sections: Section[]) {
  await host.fs.mkdir(dir, { recursive: true });
  const svgFiles = new Map<Block, string>();
  let n = 0;
  for (const s of sections) {
    for (const b of s.blocks) {
      if (b.kind !== "svg") continue;
      const name = `chart-${++n}.svg`;
      await writeFileAtomic(host, `${dir}/${name}`, b.svg);
      svgFiles.set(b, name);
    }
  }
  await writeFileAtomic(host, `${dir}/report.md`, toMarkdown(title, sections, svgFiles));
  await writeFileAtomic(host, `${dir}/report.html`, toHtml(title, sections));
}
