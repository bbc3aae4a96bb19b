// Value specs of config keys and flags: what a key accepts (number with bounds, string, enum, boolean,
// list), the text of "expected ..." errors, parsing a flag's text by its spec, and the "did you mean"
// suggestion for unknown names. No YAML here (lib/io/config.ts has it), so the command-line layer
// (lib/cli/flags.ts) can use it in tasks that run before the npm packages are installed (setup).

export interface Bounds {
  min?: number; // >=
  max?: number; // <=
  gt?: number; // >
  lt?: number; // <
}

export type Spec =
  | ({ kind: "number"; integer: boolean } & Bounds)
  | { kind: "string"; nullable: boolean }
  | { kind: "enum"; values: readonly string[] }
  | { kind: "boolean" }
  | { kind: "list"; item: Spec; minLength: number };

export const num = (b: Bounds = {}): Spec => ({ kind: "number", integer: false, ...b });
export const int = (b: Bounds = {}): Spec => ({ kind: "number", integer: true, ...b });
export const str = (o: { nullable?: boolean } = {}): Spec => ({
  kind: "string",
  nullable: o.nullable ?? false,
});
export const oneOf = (...values: string[]): Spec => ({ kind: "enum", values });
export const bool = (): Spec => ({ kind: "boolean" });
export const list = (item: Spec, o: { minLength?: number } = {}): Spec => ({
  kind: "list",
  item,
  minLength: o.minLength ?? 0,
});

export function show(v: unknown): string {
  if (typeof v === "number" || v === undefined) return String(v);
  const s = JSON.stringify(v);
  return s.length > 60 ? s.slice(0, 57) + "..." : s;
}

/** What a spec accepts, as the text after "expected". */
export function describe(s: Spec): string {
  switch (s.kind) {
    case "number": {
      const b = [["gt", ">"], ["min", ">="], ["lt", "<"], ["max", "<="]] as const;
      const parts = b.filter(([k]) => s[k] !== undefined).map(([k, op]) => `${op} ${s[k]}`);
      return [s.integer ? "an integer" : "a number", parts.join(" and ")].filter(Boolean).join(" ");
    }
    case "string":
      return s.nullable ? "a string or null" : "a string";
    case "enum":
      return `one of ${s.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "boolean":
      return "true or false";
    case "list": {
      const item = describe(s.item).replace(/^an? /, "");
      return `a list of ${item}${s.minLength ? ` (at least ${s.minLength})` : ""}`;
    }
  }
}

/** Checks `v` against `s`; returns an error text ("expected ..., got ...") or null. */
export function check(s: Spec, v: unknown, key: string): string | null {
  const bad = () => `${key}: expected ${describe(s)}, got ${show(v)}`;
  switch (s.kind) {
    case "number": {
      if (typeof v !== "number" || !Number.isFinite(v) || (s.integer && !Number.isInteger(v))) return bad();
      const ok = (s.gt === undefined || v > s.gt) && (s.min === undefined || v >= s.min) &&
        (s.lt === undefined || v < s.lt) && (s.max === undefined || v <= s.max);
      return ok ? null : bad();
    }
    case "string":
      return typeof v === "string" || (s.nullable && v === null) ? null : bad();
    case "enum":
      if (typeof v === "string" && s.values.includes(v)) return null;
      return bad() + hint(typeof v === "string" ? suggest(v, s.values) : null);
    case "boolean":
      return typeof v === "boolean" ? null : bad();
    case "list": {
      if (!Array.isArray(v) || v.length < s.minLength) return bad();
      for (let i = 0; i < v.length; i++) {
        const err = check(s.item, v[i], `${key}[${i}]`);
        if (err) return err;
      }
      return null;
    }
  }
}

/** Edit distance counting a swap of neighbours as one edit (optimal string alignment). */
function editDistance(a: string, b: string): number {
  let pp: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        cur[j] = Math.min(cur[j], pp[j - 2] + 1);
      }
    }
    [pp, prev] = [prev, cur];
  }
  return prev[b.length];
}

/**
 * The closest candidate, or null: the same last segment (a key under the wrong parent) first, then a
 * small edit distance on the whole key or on its last segment (a flag given as a bare leaf name).
 */
export function suggest(key: string, candidates: readonly string[]): string | null {
  const last = (k: string) => k.slice(k.lastIndexOf(".") + 1).toLowerCase();
  const moved = candidates.find((c) => last(c) === last(key));
  if (moved) return moved;
  let best: string | null = null;
  let bestD = Math.max(1, Math.floor(last(key).length / 3)) + 1; // accept distances up to the limit
  for (const c of candidates) {
    const d = Math.min(
      editDistance(key.toLowerCase(), c.toLowerCase()),
      editDistance(last(key), last(c)) + 0.5,
    );
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best;
}

export const hint = (s: string | null) => (s ? ` (did you mean ${JSON.stringify(s)}?)` : "");

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** Parses a flag's text by the spec's type; leaves it as is when it does not parse (check reports it). */
export function parseFlag(s: Spec, text: string): unknown {
  switch (s.kind) {
    case "number":
      return NUMBER.test(text.trim()) ? Number(text) : text;
    case "boolean":
      return text === "true" ? true : text === "false" ? false : text;
    case "string":
      return s.nullable && text === "null" ? null : text;
    case "enum":
      return text;
    case "list": {
      const inner = text.trim().replace(/^\[(.*)\]$/, "$1").trim();
      return inner === "" ? [] : inner.split(",").map((p) => parseFlag(s.item, p.trim()));
    }
  }
}
