// JSON checks that JSON.parse does not make.

/**
 * The key path of the first duplicated object key in (already valid) JSON text, or null.
 * JSON.parse silently keeps the last duplicate (a second tensor of the same name in a safetensors
 * header, a repeated field in a metadata.jsonl row), so readers that must not guess check with this.
 */
export function findDuplicateKey(text: string): string[] | null {
  let i = 0;
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  const str = (): string => {
    const start = i++;
    while (text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    return JSON.parse(text.slice(start, ++i));
  };
  const value = (path: string[]): string[] | null => {
    ws();
    if (text[i] === '"') {
      str();
      return null;
    }
    const close = text[i] === "{" ? "}" : text[i] === "[" ? "]" : null;
    if (!close) {
      while (i < text.length && !",}] \t\n\r".includes(text[i])) i++; // number, true, false, null
      return null;
    }
    i++;
    ws();
    if (text[i] === close) {
      i++;
      return null;
    }
    const keys = new Set<string>();
    for (;;) {
      let sub = path;
      if (close === "}") {
        ws();
        const k = str();
        if (keys.has(k)) return [...path, k];
        keys.add(k);
        ws();
        i++; // ':'
        sub = [...path, k];
      }
      const dup = value(sub);
      if (dup) return dup;
      ws();
      if (text[i++] === close) return null; // otherwise it was ','
    }
  };
  return value([]);
}
