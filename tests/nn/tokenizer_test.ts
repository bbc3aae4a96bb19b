// Word-level tokenizer: grammar vocabulary, fixed-length encoding with bos/eos/pad, masks, unknown
// words, JSON round trip.
import { deepStrictEqual, equal, throws } from "node:assert/strict";
import { BOS, EOS, PAD, UNK, WordTokenizer } from "../../lib/nn/tokenizer.ts";
import { grammarWords } from "../../lib/world/prompts.ts";

Deno.test("encodes grammar words with bos/eos/pad and a key mask", () => {
  const tok = WordTokenizer.fromGrammar(8);
  equal(tok.size, 4 + grammarWords().length);
  const { ids, mask } = tok.encode(["a red circle", ""]);
  const red = tok.vocab.indexOf("red"), circle = tok.vocab.indexOf("circle"), a = tok.vocab.indexOf("a");
  deepStrictEqual(ids[0], [BOS, a, red, circle, EOS, PAD, PAD, PAD]);
  deepStrictEqual(ids[1], [BOS, EOS, PAD, PAD, PAD, PAD, PAD, PAD]);
  deepStrictEqual([...mask], [1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0]);
  equal(tok.decode(ids[0]), "a red circle");
});

Deno.test("every grammar word is known; commas and case are ignored", () => {
  const tok = WordTokenizer.fromGrammar(64);
  const warnings: string[] = [];
  tok.warn = (m) => warnings.push(m);
  const ids = tok.encodeOne(grammarWords().join(" ").toUpperCase().replaceAll(" ", ", "));
  equal(ids.includes(UNK), false);
  deepStrictEqual(warnings, []);
});

Deno.test("unknown words map to <unk> with one warning each; long prompts are truncated", () => {
  const tok = WordTokenizer.fromGrammar(6);
  const warnings: string[] = [];
  tok.warn = (m) => warnings.push(m);
  deepStrictEqual(tok.encodeOne("zebra red zebra"), [BOS, UNK, tok.vocab.indexOf("red"), UNK, EOS, PAD]);
  equal(warnings.length, 1);
  const long = tok.encodeOne("a red circle on the left");
  equal(long.length, 6);
  equal(long[5], EOS);
  equal(warnings.length, 2);
});

Deno.test("JSON round trip keeps ids; bad JSON is refused with the file named", () => {
  const tok = WordTokenizer.fromGrammar(16);
  const back = WordTokenizer.fromJSON(JSON.parse(JSON.stringify(tok.toJSON())));
  deepStrictEqual(back.vocab, tok.vocab);
  equal(back.maxLength, 16);
  const j = { ...tok.toJSON(), vocab: ["red", ...tok.vocab] };
  throws(() => WordTokenizer.fromJSON(j, "runs/base/tokenizer.json"), /runs\/base\/tokenizer.json/);
});
