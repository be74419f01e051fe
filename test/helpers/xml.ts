/**
 * A strict well-formedness check for the SVG the library writes (no DTDs, no CDATA, no
 * processing instructions): every tag closes in order, attributes are quoted and unique, text
 * has no bare `<` or `&`. Returns the element names in document order.
 */
export function parseXmlElements(xml: string): string[] {
  const names: string[] = [];
  const stack: string[] = [];
  const token =
    /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[A-Za-z_:][\w:.-]*\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>|<!--[\s\S]*?-->/g;
  let last = 0;
  for (let m = token.exec(xml); m !== null; m = token.exec(xml)) {
    checkText(xml.slice(last, m.index), m.index);
    last = token.lastIndex;
    if (m[0].startsWith('<!--')) continue;
    const [, closing, name, attrs, selfClosing] = m as unknown as [
      string,
      string,
      string,
      string,
      string,
    ];
    if (closing) {
      if (attrs.trim() !== '' || selfClosing) throw new Error(`bad closing tag at ${m.index}`);
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> at ${m.index} closes <${open}>`);
      continue;
    }
    const seen = new Set<string>();
    for (const a of attrs.matchAll(/([A-Za-z_:][\w:.-]*)\s*=/g)) {
      if (seen.has(a[1] as string)) throw new Error(`duplicate attribute ${a[1]} at ${m.index}`);
      seen.add(a[1] as string);
    }
    names.push(name);
    if (!selfClosing) stack.push(name);
    if (stack.length === 0 && names.length > 1 && !selfClosing)
      throw new Error('two root elements');
  }
  checkText(xml.slice(last), last);
  if (stack.length > 0) throw new Error(`unclosed <${stack.join('> <')}>`);
  return names;
}

function checkText(text: string, at: number): void {
  if (/</.test(text)) throw new Error(`a '<' that starts no tag near ${at}: ${text.slice(0, 40)}`);
  const amp = /&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.exec(text);
  if (amp) throw new Error(`a bare '&' near ${at + amp.index}`);
}
