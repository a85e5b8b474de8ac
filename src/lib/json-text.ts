// JSON text handled as text: a stored payload goes out byte for byte (its numbers as signed and delivered), which a
// JSON.parse round trip would not keep (1.0 becomes 1, 12345678901234567890 loses digits, keys like "10" move).

/** `value` as JSON with `rawJson` (JSON text, e.g. a stored payload) as the value of its member `key`, verbatim. */
export function jsonWithRawMember(value: Record<string, unknown>, key: string, rawJson: string): string {
  // A placeholder no other string in `value` can contain: a random one, per call.
  const placeholder = JSON.stringify(`\u0000${crypto.randomUUID()}`);
  const text = JSON.stringify({ ...value, [key]: JSON.parse(placeholder) });
  return text.replace(placeholder, () => rawJson);
}

/** JSON text indented two spaces a level, for reading; every token (numbers, escapes) stays as it was written. */
export function indentJsonText(text: string): string {
  let out = "";
  let depth = 0;
  let opened = false; // just after "{" or "[": an empty one closes on the same line
  const newline = () => `\n${"  ".repeat(depth)}`;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === " " || c === "\t" || c === "\n" || c === "\r") continue;
    const closing = c === "}" || c === "]";
    if (closing) depth--;
    if (opened && !closing) out += newline();
    else if (closing && !opened) out += newline();
    opened = false;
    if (c === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === "\\" ? 2 : 1;
      out += text.slice(i, end + 1);
      i = end;
    } else if (c === "{" || c === "[") {
      out += c;
      depth++;
      opened = true;
    } else if (c === ",") out += c + newline();
    else if (c === ":") out += ": ";
    else out += c;
  }
  return out;
}
