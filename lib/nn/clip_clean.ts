// The text clean-up CLIP's tokenizer runs before BPE (OpenAI's simple_tokenizer.py, as SD-1.x uses it):
//   text = ftfy.fix_text(text); text = html.unescape(html.unescape(text)); text = text.strip()
//   text = re.sub(r"\s+", " ", text).strip(); text = text.lower()
// ftfy 6.3's fix_text is ported except its mojibake repair (fix_encoding: a statistical guess at text
// decoded with the wrong codec, e.g. "cafÃ©" -> "café"); such text is tokenized as given. Every other
// fixer runs as ftfy runs it: per line, repeated until nothing changes (ftfy's fix_and_explain loop).
// Python's html.unescape is ported for numeric references; named ones are looked up in the HTML5 table
// of the `entities` package, whose legacy decoding (names without ";") follows the same standard.
import { decodeHTML, decodeHTMLStrict } from "entities";

// Python's re `\s` on str (str.isspace): Unicode White_Space plus U+1C-1F. U+FEFF is not one.
const PY_SPACE =
  "\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const SPACE_RUN = new RegExp(`[${PY_SPACE}]+`, "g");
const EDGE_SPACE = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, "g");

/** OpenAI CLIP's basic_clean + whitespace_clean + lower(): what every prompt goes through. */
export function cleanPrompt(text: string): string {
  let t = fixText(text);
  t = pyHtmlUnescape(pyHtmlUnescape(t)).replace(EDGE_SPACE, "");
  return t.replace(SPACE_RUN, " ").replace(EDGE_SPACE, "").toLowerCase();
}

// ---- Python's html.unescape ---------------------------------------------------------------------

const CHARREF = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/g;
// html._invalid_charrefs: what HTML5 maps these numeric references to (Windows-1252 for 0x80-0x9F).
const INVALID_CHARREFS: Record<number, string> = {
  0x00: "\ufffd",
  0x0d: "\r",
  0x80: "\u20ac",
  0x81: "\x81",
  0x82: "\u201a",
  0x83: "\u0192",
  0x84: "\u201e",
  0x85: "\u2026",
  0x86: "\u2020",
  0x87: "\u2021",
  0x88: "\u02c6",
  0x89: "\u2030",
  0x8a: "\u0160",
  0x8b: "\u2039",
  0x8c: "\u0152",
  0x8d: "\x8d",
  0x8e: "\u017d",
  0x8f: "\x8f",
  0x90: "\x90",
  0x91: "\u2018",
  0x92: "\u2019",
  0x93: "\u201c",
  0x94: "\u201d",
  0x95: "\u2022",
  0x96: "\u2013",
  0x97: "\u2014",
  0x98: "\u02dc",
  0x99: "\u2122",
  0x9a: "\u0161",
  0x9b: "\u203a",
  0x9c: "\u0153",
  0x9d: "\x9d",
  0x9e: "\u017e",
  0x9f: "\u0178",
};

/** html._invalid_codepoints: numeric references Python replaces by "". */
function invalidCodepoint(n: number): boolean {
  return (n >= 0x1 && n <= 0x8) || n === 0xb || (n >= 0xe && n <= 0x1f) || (n >= 0x7f && n <= 0x9f) ||
    (n >= 0xfdd0 && n <= 0xfdef) || (n <= 0x10ffff && (n & 0xfffe) === 0xfffe);
}

function numericRef(s: string): string {
  const hex = s[1] === "x" || s[1] === "X";
  const digits = s.slice(hex ? 2 : 1).replace(/;$/, "");
  const n = hex ? parseInt(digits, 16) : parseInt(digits, 10);
  if (n in INVALID_CHARREFS) return INVALID_CHARREFS[n];
  if ((n >= 0xd800 && n <= 0xdfff) || !(n <= 0x10ffff)) return "\ufffd";
  if (invalidCodepoint(n)) return "";
  return String.fromCodePoint(n);
}

/** Python 3's html.unescape(s). */
export function pyHtmlUnescape(s: string): string {
  if (!s.includes("&")) return s;
  // Named: the whole name if it is in the table, else its longest legacy prefix (decodeHTML's rule).
  return s.replace(CHARREF, (_m, ref: string) => ref[0] === "#" ? numericRef(ref) : decodeHTML("&" + ref));
}

// ---- ftfy.fix_text (6.3.1, default config), without fix_encoding ----------------------------------

const FTFY_ENTITY = /&#?[0-9A-Za-z]{1,24};/g;

/** ftfy's unescape_html: entities ending in ";", plus all-caps versions of lower-case names (&EACUTE;). */
function ftfyUnescape(text: string): string {
  return text.replace(FTFY_ENTITY, (m) => {
    if (m.startsWith("&#")) {
      const u = pyHtmlUnescape(m);
      return u.includes(";") ? m : u;
    }
    const strict = decodeHTMLStrict(m);
    if (strict !== m) return strict;
    const lower = m.toLowerCase();
    if (m === m.toUpperCase() && lower.toUpperCase() === m) {
      const ch = decodeHTMLStrict(lower);
      if (ch !== lower && pyHtmlUnescape(m) === m) return ch.toUpperCase();
    }
    return m;
  });
}

// sloppy-windows-1252 for bytes 0x80-0x9F (undefined bytes map to themselves).
const CP1252_C1 = "€\x81‚ƒ„…†‡ˆ‰Š‹Œ\x8dŽ\x8f\x90‘’“”•–—˜™š›œ\x9džŸ";
const LIGATURES: Record<string, string> = {
  "Ĳ": "IJ",
  "ĳ": "ij",
  "ŉ": "ʼn",
  "Ǳ": "DZ",
  "ǲ": "Dz",
  "ǳ": "dz",
  "Ǆ": "DŽ",
  "ǅ": "Dž",
  "ǆ": "dž",
  "Ǉ": "LJ",
  "ǈ": "Lj",
  "ǉ": "lj",
  "Ǌ": "NJ",
  "ǋ": "Nj",
  "ǌ": "nj",
  "ﬀ": "ff",
  "ﬁ": "fi",
  "ﬂ": "fl",
  "ﬃ": "ffi",
  "ﬄ": "ffl",
  "ﬅ": "ſt",
  "ﬆ": "st",
};
const LIGATURE_RE = new RegExp(`[${Object.keys(LIGATURES).join("")}]`, "g");
// ftfy's WIDTH_MAP: U+3000 -> space, and every U+FF01-FFEF whose NFKC form differs, to that form.
const WIDTH_RE = /[\u3000\uff01-\uffef]/g;
const widthFix = (c: string) => c === "\u3000" ? " " : c.normalize("NFKC");
// deno-lint-ignore no-control-regex -- ftfy matches these control characters on purpose
const ANSI_RE = /\x1b\[((?:\d|;)*)([a-zA-Z])/g;
// deno-lint-ignore no-control-regex -- the characters ftfy removes
const CONTROL_RE = /[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/g;
// JS strings hold UTF-16: a lone surrogate is what Python sees as a surrogate code point.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function fixSegment(segment: string): string {
  const unescape = !segment.includes("<");
  let text = segment;
  for (;;) {
    const orig = text;
    if (unescape) text = ftfyUnescape(text);
    text = text.replace(/[\x80-\x9f]/g, (c) => CP1252_C1[c.charCodeAt(0) - 0x80]); // fix_c1_controls
    text = text.replace(LIGATURE_RE, (c) => LIGATURES[c]); // fix_latin_ligatures
    text = text.replace(WIDTH_RE, widthFix); // fix_character_width
    text = text.replace(/[\u02bc\u2018-\u201b]/g, "'").replace(/[\u201c-\u201f]/g, '"'); // uncurl_quotes
    text = text.replace(/\r\n/g, "\n").replace(/[\r\u2028\u2029\x85]/g, "\n"); // fix_line_breaks
    text = text.replace(LONE_SURROGATE, "\ufffd"); // fix_surrogates
    text = text.replace(ANSI_RE, ""); // remove_terminal_escapes
    text = text.replace(CONTROL_RE, ""); // remove_control_chars
    text = text.normalize("NFC");
    if (text === orig) return text;
  }
}

/** ftfy.fix_text(text) with the default config, minus fix_encoding (see the file comment). */
export function fixText(text: string): string {
  // ftfy fixes each line (up to and including its "\n") on its own.
  return text.split(/(?<=\n)/).map(fixSegment).join("");
}
