import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from '@provisio/testkit';
import { ProtocolError } from './errors.js';
import { findDuplicateMember, parseStrictJson } from './strict-json.js';

const duplicateKey = (e: unknown) => e instanceof ProtocolError && e.code === 'json_duplicate_key';

describe('parseStrictJson', () => {
  it('ok/values-as-json-parse-gives-them', () => {
    for (const text of [
      '{}', '[]', '0', '-0', '1e400', '-1.5E-7', '12345678901234567890', 'true', 'false', 'null', '"x"',
      '{"a":1,"b":[1,2,{"a":2}],"c":{"a":{"a":3}}}',
      ' \t\r\n{ "a" : [ ] , "b" : { } } \n',
      '{"a":"}","b":"{\\"a\\":1,\\"a\\":2}"}',
      '{"\\\\":1,"\\\\\\"":2,"\\"":3}',
      '[{"a":1},{"a":1}]',
      '{"__proto__":1}',
      '{"😀":1,"\\ud83d\\ude00x":2}',
    ]) {
      assert.deepEqual(parseStrictJson(text), JSON.parse(text), text);
    }
  });

  it('refuse/duplicate-member-at-top-and-nested', () => {
    for (const [text, name] of [
      ['{"a":1,"a":1}', 'a'],
      ['{"a":1,"b":2,"a":3}', 'a'],
      ['{"x":{"b":{},"b":[]}}', 'b'],
      ['[1,[2,{"k":null,"k":null}]]', 'k'],
      ['{"a":[{"b":1}],"c":{"d":{"e":1,"e":2}}}', 'e'],
      ['{"":1,"":2}', ''],
      ['{"__proto__":1,"__proto__":2}', '__proto__'],
    ] as const) {
      assert.equal(findDuplicateMember(text), name, text);
      assert.throws(() => parseStrictJson(text, 'the test text'), (e: unknown) => duplicateKey(e) && (e as Error).message.includes('the test text'), text);
    }
  });

  it('refuse/escaped-spelling-of-the-same-name', () => {
    for (const text of [
      '{"a":1,"\\u0061":2}',
      '{"\\u0061":1,"a":2}',
      '{"\\u0041b":1,"Ab":2}',
      '{"a/b":1,"a\\/b":2}',
      '{"\\n":1,"\\u000a":2}',
      '{"\\"":1,"\\u0022":2}',
      '{"😀":1,"\\ud83d\\ude00":2}',
      '{"é":1,"\\u00e9":2}',
    ]) {
      assert.throws(() => parseStrictJson(text), duplicateKey, text);
    }
  });

  it('ok/same-name-in-sibling-objects-or-as-a-value', () => {
    for (const text of ['{"a":{"a":{"a":1}}}', '{"a":"a","b":"a"}', '[{"a":1},{"a":2}]', '{"a":["a","a"]}', '{"a":{"b":1},"b":{"a":1}}', '{"a":1,"A":2}', '{"\u00e9":1,"e\u0301":2}']) {
      assert.deepEqual(parseStrictJson(text), JSON.parse(text), text);
    }
  });

  it('refuse/not-json-as-json-parse-does', () => {
    for (const text of ['', '{', '{"a":1,}', '{\'a\':1}', '{"a":1}{"a":1}', 'NaN', '{"a":01}', '"\u0001"']) {
      assert.throws(() => parseStrictJson(text), SyntaxError, text);
    }
  });

  it('ok/deep-nesting-and-big-input', () => {
    const deep = `${'['.repeat(5000)}{"a":1}${']'.repeat(5000)}`;
    assert.equal(findDuplicateMember(deep), null);
    assert.equal(findDuplicateMember(`${'{"a":'.repeat(3000)}{"b":1,"b":2}${'}'.repeat(3000)}`), 'b');
    // A bundle-sized text: 8 MiB of base64-like strings and 20,000 members.
    const members = Array.from({ length: 20_000 }, (_, i) => `"m${i}":"${'QUJD'.repeat(100)}\\"${i}"`);
    const big = `{${members.join(',')}}`;
    assert.deepEqual(parseStrictJson(big), JSON.parse(big));
    assert.throws(() => parseStrictJson(`{${members.join(',')},"m19999":0}`), duplicateKey);
  });

  it('ok/fuzz-agrees-with-an-independent-model', () => {
    const random = seededRandom('strict-json-fuzz');
    const int = (n: number) => (random.bytes(1)[0] as number) % n;
    const NAMES = ['a', 'b', 'é', '"', '\\', '\n', '😀', '', 'a b', '/'];

    /** A name as a JSON string, each character written as itself or escaped, at random. */
    function spell(name: string): string {
      let out = '"';
      for (const ch of name) {
        const mustEscape = ch === '"' || ch === '\\' || (ch.codePointAt(0) as number) < 0x20;
        if (!mustEscape && int(3) !== 0) out += ch;
        else if (ch === '/' && int(2) === 0) out += '\\/';
        // Each UTF-16 unit as \uXXXX: a surrogate pair is two escapes.
        else out += [...Array(ch.length).keys()].map((k) => `\\u${ch.charCodeAt(k).toString(16).padStart(4, '0')}`).join('');
      }
      return `${out}"`;
    }
    const space = () => [' ', '', '\n', '\t', '\r\n'][int(5)] as string;
    /** A random JSON text with random spacing and escapes, and whether it repeats a name. */
    function value(depth: number): { text: string; duplicate: boolean } {
      const kind = depth > 4 ? int(4) : int(6);
      if (kind === 0) return { text: ['0', '-1.5e3', '12.25', 'true', 'false', 'null'][int(6)] as string, duplicate: false };
      if (kind === 1 || kind === 2) return { text: spell(NAMES[int(NAMES.length)] as string), duplicate: false };
      if (kind === 3 || kind === 4) {
        const items = Array.from({ length: int(4) }, () => value(depth + 1));
        return { text: `[${space()}${items.map((x) => x.text).join(`${space()},${space()}`)}${space()}]`, duplicate: items.some((x) => x.duplicate) };
      }
      const count = int(5);
      const seen = new Set<string>();
      let duplicate = false;
      const parts: string[] = [];
      for (let i = 0; i < count; i++) {
        const name = NAMES[int(NAMES.length)] as string;
        if (seen.has(name)) duplicate = true;
        seen.add(name);
        const v = value(depth + 1);
        duplicate ||= v.duplicate;
        parts.push(`${space()}${spell(name)}${space()}:${space()}${v.text}`);
      }
      return { text: `{${parts.join(',')}${space()}}`, duplicate };
    }

    let duplicates = 0;
    for (let round = 0; round < 3000; round++) {
      const { text, duplicate } = value(0);
      const parsed: unknown = JSON.parse(text);
      if (duplicate) {
        duplicates++;
        assert.notEqual(findDuplicateMember(text), null, text);
        assert.throws(() => parseStrictJson(text), duplicateKey, text);
      } else {
        assert.equal(findDuplicateMember(text), null, text);
        assert.deepEqual(parseStrictJson(text), parsed, text);
      }
    }
    // The generator made both kinds often enough for the comparison to mean something.
    assert.ok(duplicates > 100 && duplicates < 2900, `${duplicates} of 3000 texts had a duplicate`);
  });
});
