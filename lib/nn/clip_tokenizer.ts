// CLIP's byte-level BPE tokenizer (OpenAI's simple_tokenizer.py, transformers' CLIPTokenizer) read from
// a Hugging Face tokenizer folder (vocab.json, merges.txt, tokenizer_config.json), with SD-1.x's
// padding: tokenizer(text, padding="max_length", max_length=77, truncation=True).
//   1. clean-up (lib/nn/clip_clean.ts: ftfy, html.unescape, whitespace, lower case)
//   2. pieces: the regex below; each piece -> UTF-8 bytes -> byte-to-unicode symbols, "</w>" on the last
//   3. BPE: merge the adjacent pair of lowest rank in merges.txt until none applies
//   4. [bos] + ids (first max_length - 2 if longer) + [eos], padded with the pad token
// Written here rather than taken from a library: Hugging Face's JS tokenizers skip ftfy, so curly
// quotes, ligatures, full-width letters and HTML entities would come out with other ids than SD-1.5's.
import { cleanPrompt } from "./clip_clean.ts";
import type { Host } from "../host/host.ts";

/** What both tokenizers (CLIP BPE and the toy models' word-level one) give a bundle's encode(). */
export interface TokenizedBatch {
  /** [B][L] token ids. */
  ids: number[][];
  /** [B * L] 1 for bos/tokens/eos, 0 for padding (row-major [B, L]). */
  mask: Float32Array;
}

export interface PromptTokenizer {
  readonly maxLength: number;
  /** Vocabulary size (the text encoder's vocab_size must match). */
  readonly size: number;
  encode(texts: readonly string[]): TokenizedBatch;
}

// OpenAI's pattern (compiled with re.IGNORECASE; the text is lower-cased already).
const PIECES =
  /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/giu;
const BOS_TEXT = "<|startoftext|>", EOS_TEXT = "<|endoftext|>";
/** transformers keeps at most this many merges (CLIP's vocabulary is 49152 = 256 * 2 + merges + 2). */
const MAX_MERGES = 49152 - 256 - 2;

/** GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 onwards. */
export function bytesToUnicode(): string[] {
  const keep: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) keep.push(b);
  for (let b = 0xa1; b <= 0xac; b++) keep.push(b);
  for (let b = 0xae; b <= 0xff; b++) keep.push(b);
  const out = new Array<string>(256);
  let n = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCharCode(keep.includes(b) ? b : 256 + n++);
  return out;
}

export interface ClipTokenizerFiles {
  /** vocab.json text: token string -> id. */
  vocab: string;
  /** merges.txt text: an optional "#version" line, then "a b" per line in rank order. */
  merges: string;
  /** tokenizer_config.json text (model_max_length, bos/eos/pad tokens); optional. */
  config?: string;
  /** Where the files came from, for error messages. */
  where?: string;
}

export class ClipTokenizer implements PromptTokenizer {
  readonly maxLength: number;
  readonly bos: number;
  readonly eos: number;
  readonly pad: number;
  private readonly encoder: Map<string, number>;
  private readonly ranks = new Map<string, number>();
  private readonly byteSymbols = bytesToUnicode();
  private readonly cache = new Map<string, string[]>();

  constructor(files: ClipTokenizerFiles) {
    const where = files.where ?? "tokenizer";
    const vocab = parseJson(files.vocab, `${where}/vocab.json`);
    if (typeof vocab !== "object" || vocab === null || Array.isArray(vocab)) {
      throw new Error(`${where}/vocab.json: expected an object of token -> id`);
    }
    this.encoder = new Map();
    for (const [tok, id] of Object.entries(vocab as Record<string, unknown>)) {
      if (!Number.isInteger(id) || (id as number) < 0) {
        throw new Error(`${where}/vocab.json: id of ${JSON.stringify(tok)} is ${JSON.stringify(id)}`);
      }
      this.encoder.set(tok, id as number);
    }
    const lines = files.merges.split("\n").map((l) => l.replace(/\r$/, ""));
    const body = lines[0]?.startsWith("#version") ? lines.slice(1) : lines;
    body.filter((l) => l.length > 0).slice(0, MAX_MERGES).forEach((l, rank) => {
      const parts = l.split(" ");
      if (parts.length !== 2) throw new Error(`${where}/merges.txt: line "${l}" is not "a b"`);
      if (!this.ranks.has(l)) this.ranks.set(l, rank);
    });
    const cfg = files.config
      ? parseJson(files.config, `${where}/tokenizer_config.json`) as Record<
        string,
        unknown
      >
      : {};
    const token = (key: string, dflt: string): string => {
      const v = cfg[key] ?? dflt;
      const s = typeof v === "object" && v !== null ? (v as { content?: unknown }).content : v;
      if (typeof s !== "string") {
        throw new Error(`${where}/tokenizer_config.json: ${key} = ${JSON.stringify(v)} is not a token`);
      }
      return s;
    };
    const idOf = (key: string, dflt: string): number => {
      const s = token(key, dflt), id = this.encoder.get(s);
      if (id === undefined) {
        throw new Error(`${where}: ${key} ${JSON.stringify(s)} is not in vocab.json`);
      }
      return id;
    };
    this.bos = idOf("bos_token", BOS_TEXT);
    this.eos = idOf("eos_token", EOS_TEXT);
    this.pad = idOf("pad_token", EOS_TEXT);
    const ml = cfg.model_max_length ?? 77;
    // transformers writes 1e30-ish "unlimited" values for tokenizers without a limit: SD needs one.
    if (!Number.isInteger(ml) || (ml as number) < 2 || (ml as number) > 4096) {
      throw new Error(
        `${where}/tokenizer_config.json: model_max_length = ${
          JSON.stringify(ml)
        } must be an integer in [2, 4096]`,
      );
    }
    this.maxLength = ml as number;
    if (cfg.do_lower_case === false) {
      throw new Error(`${where}/tokenizer_config.json: do_lower_case = false is not supported (CLIP lowers)`);
    }
  }

  /** Reads a Hugging Face CLIPTokenizer folder (vocab.json, merges.txt, tokenizer_config.json). */
  static async load(host: Host, dir: string): Promise<ClipTokenizer> {
    const read = (f: string) =>
      host.fs.readTextFile(`${dir}/${f}`).catch((e) => {
        throw new Error(`${dir}/${f}: ${(e as Error).message}`);
      });
    const config = await host.fs.readTextFile(`${dir}/tokenizer_config.json`).catch(() => undefined);
    return new ClipTokenizer({
      vocab: await read("vocab.json"),
      merges: await read("merges.txt"),
      config,
      where: dir,
    });
  }

  get size(): number {
    let max = -1;
    for (const id of this.encoder.values()) max = Math.max(max, id);
    return max + 1;
  }

  /** The BPE token strings of a text, before ids and padding (as CLIP's bpe() gives them). */
  bpeTokens(text: string): string[] {
    const out: string[] = [];
    for (const m of cleanPrompt(text).matchAll(PIECES)) {
      const piece = m[0];
      if (piece === BOS_TEXT || piece === EOS_TEXT) {
        out.push(piece);
        continue;
      }
      const bytes = new TextEncoder().encode(piece);
      out.push(...this.bpe(Array.from(bytes, (b) => this.byteSymbols[b]).join("")));
    }
    return out;
  }

  /** BPE ids of a text without bos/eos/padding. */
  tokenIds(text: string): number[] {
    return this.bpeTokens(text).map((t) => {
      const id = this.encoder.get(t);
      if (id === undefined) throw new Error(`tokenizer: BPE token ${JSON.stringify(t)} is not in vocab.json`);
      return id;
    });
  }

  /** [bos, ids..., eos, pad...] of length maxLength, and its mask (1 up to and including eos). */
  encodeOne(text: string): { ids: number[]; mask: number[] } {
    const body = this.tokenIds(text).slice(0, this.maxLength - 2);
    const ids = [this.bos, ...body, this.eos];
    const mask = ids.map(() => 1);
    while (ids.length < this.maxLength) {
      ids.push(this.pad);
      mask.push(0);
    }
    return { ids, mask };
  }

  encode(texts: readonly string[]): TokenizedBatch {
    const rows = texts.map((t) => this.encodeOne(t));
    const mask = new Float32Array(texts.length * this.maxLength);
    rows.forEach((r, b) => mask.set(r.mask, b * this.maxLength));
    return { ids: rows.map((r) => r.ids), mask };
  }

  /** CLIP's bpe(): one piece in byte-symbol form -> its BPE tokens. */
  private bpe(token: string): string[] {
    const hit = this.cache.get(token);
    if (hit) return hit;
    let word = [...token];
    word[word.length - 1] += "</w>";
    while (word.length > 1) {
      let best = -1, bestRank = Infinity;
      for (let i = 0; i + 1 < word.length; i++) {
        const r = this.ranks.get(`${word[i]} ${word[i + 1]}`);
        if (r !== undefined && r < bestRank) (bestRank = r, best = i);
      }
      if (best < 0) break;
      const first = word[best], second = word[best + 1];
      // Merge every non-overlapping occurrence, left to right, as CLIP does.
      const next: string[] = [];
      for (let i = 0; i < word.length;) {
        if (i + 1 < word.length && word[i] === first && word[i + 1] === second) {
          next.push(first + second);
          i += 2;
        } else next.push(word[i++]);
      }
      word = next;
    }
    if (this.cache.size < 100_000) this.cache.set(token, word);
    return word;
  }
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${where}: malformed JSON: ${(e as Error).message}`);
  }
}
