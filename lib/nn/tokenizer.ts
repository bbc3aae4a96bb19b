// Word-level tokenizer over the world's grammar words: ids 0..3 are <pad>, <bos>, <eos>, <unk>, then
// the words in the saved order. encode() gives [bos, words..., eos, pad...] of fixed length and the
// key mask (1 for bos/words/eos, 0 for pad) used by cross-attention. Saved as JSON with the model.
import { preview } from "../util/text.ts";
import { grammarWords, promptWords } from "../world/prompts.ts";

export const SPECIAL = ["<pad>", "<bos>", "<eos>", "<unk>"] as const;
export const PAD = 0, BOS = 1, EOS = 2, UNK = 3;

/** The JSON saved beside a model (tokenizer.json). */
export interface TokenizerJson {
  type: "word-level";
  version: 1;
  max_length: number;
  /** Every token in id order, specials first. */
  vocab: string[];
}

export interface Encoded {
  /** [B][L] token ids. */
  ids: number[][];
  /** [B * L] 1/0 per token (row-major [B, L]). */
  mask: Float32Array;
}

export class WordTokenizer {
  readonly vocab: readonly string[];
  private readonly index: Map<string, number>;
  /** Warns once per unknown word; replaceable in tests. */
  warn: (msg: string) => void = (m) => console.warn(m);
  private warned = new Set<string>();

  constructor(words: readonly string[], readonly maxLength = 16) {
    if (!Number.isInteger(maxLength) || maxLength < 2) {
      throw new Error(`tokenizer: max_length ${maxLength} < 2`);
    }
    const body = [...new Set(words.map((w) => w.toLowerCase()))].filter((w) => !SPECIAL.includes(w as never));
    this.vocab = [...SPECIAL, ...body];
    this.index = new Map(this.vocab.map((w, i) => [w, i]));
  }

  /** A tokenizer over every word the prompt grammar can produce. */
  static fromGrammar(maxLength = 16): WordTokenizer {
    return new WordTokenizer(grammarWords(), maxLength);
  }

  static fromJSON(j: TokenizerJson, where = "tokenizer.json"): WordTokenizer {
    if (j.type !== "word-level" || j.version !== 1) {
      throw new Error(`${where}: type/version ${JSON.stringify([j.type, j.version])} is not word-level/1`);
    }
    if (!Array.isArray(j.vocab) || SPECIAL.some((s, i) => j.vocab[i] !== s)) {
      throw new Error(`${where}: vocab must start with ${SPECIAL.join(", ")}`);
    }
    const t = new WordTokenizer(j.vocab.slice(SPECIAL.length), j.max_length);
    if (t.vocab.length !== j.vocab.length) throw new Error(`${where}: vocab has duplicate words`);
    return t;
  }

  toJSON(): TokenizerJson {
    return { type: "word-level", version: 1, max_length: this.maxLength, vocab: [...this.vocab] };
  }

  get size(): number {
    return this.vocab.length;
  }

  /** Ids of one text: [bos, words (truncated to maxLength - 2)..., eos, pad...], length maxLength. */
  encodeOne(text: string): number[] {
    const words = promptWords(text);
    const room = this.maxLength - 2;
    if (words.length > room) {
      // Quoted as a short prefix: a caption can be any length (a 100 MB line once flooded a log).
      const shown = preview(text);
      this.warnOnce(`truncated:${shown}`, `tokenizer: ${shown} has ${words.length} words; keeping ${room}`);
    }
    const ids = [BOS];
    for (const w of words.slice(0, room)) {
      const id = this.index.get(w);
      if (id === undefined) this.warnOnce(preview(w), `tokenizer: unknown word ${preview(w)} -> <unk>`);
      ids.push(id ?? UNK);
    }
    ids.push(EOS);
    while (ids.length < this.maxLength) ids.push(PAD);
    return ids;
  }

  encode(texts: readonly string[]): Encoded {
    const ids = texts.map((t) => this.encodeOne(t));
    const mask = new Float32Array(texts.length * this.maxLength);
    ids.forEach((row, b) => row.forEach((id, j) => mask[b * this.maxLength + j] = id === PAD ? 0 : 1));
    return { ids, mask };
  }

  decode(ids: readonly number[]): string {
    return ids.filter((i) => i > UNK).map((i) => this.vocab[i] ?? "<?>").join(" ");
  }

  private warnOnce(key: string, msg: string) {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.warn(msg);
  }
}
