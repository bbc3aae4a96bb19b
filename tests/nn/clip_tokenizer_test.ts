// CLIP BPE tokenizer against the fixture's golden strings (OpenAI's simple_tokenizer.py with ftfy 6.3.1
// on tiny-sd's merges): BPE tokens, ids, mask and truncation for every case; and the clean-up steps
// (Python's html.unescape, ftfy's fixers) on inputs whose Python results are known.
import { deepStrictEqual, equal, throws } from "node:assert/strict";
import { cleanPrompt, fixText, pyHtmlUnescape } from "../../lib/nn/clip_clean.ts";
import { bytesToUnicode, ClipTokenizer } from "../../lib/nn/clip_tokenizer.ts";
import { goldenJson, TINY_SD } from "../_fixtures.ts";
import { host } from "../_helpers.ts";

interface Case {
  text: string;
  category: string;
  bpe_tokens: string[];
  n_bpe_tokens: number;
  input_ids: number[];
  attention_mask: number[];
  truncated: boolean;
}

Deno.test("CLIP tokenizer: every golden string gives CLIP's BPE tokens, ids and mask", async () => {
  const tok = await ClipTokenizer.load(host, `${TINY_SD}/tokenizer`);
  const g = await goldenJson<{ cases: Case[]; bos_id: number; eos_id: number; pad_id: number }>(
    `${TINY_SD}/golden/tokenizer.json`,
  );
  equal(tok.size, 2514);
  deepStrictEqual([tok.bos, tok.eos, tok.pad, tok.maxLength], [g.bos_id, g.eos_id, g.pad_id, 77]);
  equal(g.cases.length, 33);
  for (const c of g.cases) {
    const label = `${c.category} ${JSON.stringify(c.text.slice(0, 40))}`;
    deepStrictEqual(tok.bpeTokens(c.text), c.bpe_tokens, label);
    const { ids, mask } = tok.encodeOne(c.text);
    deepStrictEqual(ids, c.input_ids, label);
    deepStrictEqual(mask, c.attention_mask, label);
    equal(c.truncated, c.n_bpe_tokens > 75, label);
  }
  // The batch form: [B][77] ids and a [B * 77] mask.
  const b = tok.encode([g.cases[0].text, ""]);
  deepStrictEqual(b.ids, [g.cases[0].input_ids, tok.encodeOne("").ids]);
  deepStrictEqual([...b.mask.subarray(0, 77)], g.cases[0].attention_mask);
});

Deno.test("CLIP tokenizer: special tokens in the text, bad folders", () => {
  const vocab: Record<string, number> = {};
  bytesToUnicode().forEach((s, i) => (vocab[s] = i, vocab[s + "</w>"] = 256 + i));
  vocab["ab</w>"] = 512;
  vocab["<|startoftext|>"] = 513;
  vocab["<|endoftext|>"] = 514;
  const tok = new ClipTokenizer({
    vocab: JSON.stringify(vocab),
    merges: "#version: 0.2\na b</w>\n",
    config: JSON.stringify({ model_max_length: 5 }),
  });
  deepStrictEqual(tok.bpeTokens("AB <|endoftext|>"), ["ab</w>", "<|endoftext|>"]);
  // Truncation keeps maxLength - 2 tokens between bos and eos; padding uses the pad token (eos).
  deepStrictEqual(tok.encodeOne("ab ab ab ab").ids, [513, 512, 512, 512, 514]);
  deepStrictEqual(tok.encodeOne("ab").ids, [513, 512, 514, 514, 514]);
  deepStrictEqual(tok.encodeOne("ab").mask, [1, 1, 1, 0, 0]);
  throws(
    () => new ClipTokenizer({ vocab: "{}", merges: "", where: "x" }),
    /x: bos_token "<\|startoftext\|>" is not in vocab.json/,
  );
  throws(
    () => new ClipTokenizer({ vocab: JSON.stringify(vocab), merges: "a b c\n", where: "x" }),
    /x\/merges.txt: line "a b c" is not "a b"/,
  );
  throws(
    () =>
      new ClipTokenizer({
        vocab: JSON.stringify(vocab),
        merges: "",
        config: JSON.stringify({ model_max_length: 1e30 }),
        where: "x",
      }),
    /x\/tokenizer_config.json: model_max_length = 1e\+30/,
  );
});

Deno.test("clean-up: Python's html.unescape and ftfy's fixers", () => {
  // Results of Python 3.11's html.unescape on the same strings.
  const cases: [string, string][] = [
    ["salt &amp; pepper", "salt & pepper"],
    ["&amp;amp;", "&amp;"],
    ["&notit; &ampxyz &bogus;", "¬it; &xyz &bogus;"],
    ["&#39;&#x27;&#X41;&#65", "''AA"],
    ["&#128;&#0;&#1;&#xD800;&#1114112;", "€\ufffd\ufffd\ufffd"],
    ["&lt;b&gt; &Eacute; &eacute", "<b> É é"],
  ];
  for (const [i, want] of cases) equal(pyHtmlUnescape(i), want, i);
  // ftfy: quotes, ligatures, widths, all-caps entities, C1 controls as Windows-1252, line breaks,
  // control characters, NFC; entities are left alone in a line that has a "<".
  equal(fixText("“curly” ‘single’ ﬁne ﬂ ＦＵＬＬ　ｗｉｄｅ"), `"curly" 'single' fine fl FULL wide`);
  equal(fixText("P&EACUTE;REZ &amp;amp; x"), "PÉREZ & x");
  equal(fixText("<b>&amp;</b>\n&amp;"), "<b>&amp;</b>\n&");
  equal(fixText("a\x85b\r\nc\u2028d\x00\ufeff\x1b[36me"), "a…b\nc\nde");
  equal(fixText("cafe\u0301"), "café");
  equal(cleanPrompt("  A\u00a0B\t\nC\u3000D  "), "a b c d");
});
