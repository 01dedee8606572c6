/**
 * JSON that names each object member once (docs/decisions.md D29). RFC 8259 §4 only says names
 * SHOULD be unique, and JSON.parse keeps the last of two: a signer and a verifier (or a proxy and
 * the service) that read the same bytes differently can be told apart by such a file. Every
 * signed structure and every API body is read through here, so a duplicate is refused instead.
 *
 * The text is parsed by JSON.parse first (so what is accepted and the values returned are exactly
 * JSON.parse's); then one linear scan over the now known-valid text checks each object's names.
 * Names are compared after unescaping: "a" and "\u0061" are the same name.
 */
import { ProtocolError } from './errors.js';

/** A JSON text with a repeated member name; `member` is the name, unescaped. */
export class DuplicateMemberError extends ProtocolError {
  constructor(readonly what: string, readonly member: string) {
    super('json_duplicate_key', `${what} names the member ${JSON.stringify(member.length > 60 ? `${member.slice(0, 60)}…` : member)} twice in one object; each name may appear once`);
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;

/** Index just past the closing quote of the string that opens at `start` (valid JSON assumed). */
function stringEnd(text: string, start: number): number {
  let i = start + 1;
  for (;;) {
    const close = text.indexOf('"', i);
    if (close < 0) throw new SyntaxError('unterminated string');
    // A quote preceded by an odd number of backslashes is escaped.
    let backslashes = 0;
    while (text.charCodeAt(close - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return close + 1;
    i = close + 1;
  }
}

/**
 * The first member name that appears twice in one object of `text`, or null. `text` must be valid
 * JSON (JSON.parse accepted it); anything else gives no meaningful answer.
 */
export function findDuplicateMember(text: string): string | null {
  // One entry per open container: the names seen so far in an object, null for an array.
  const stack: Array<Set<string> | null> = [];
  let expectName = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = stringEnd(text, i);
      if (expectName) {
        const lexeme = text.slice(i, end);
        const name = lexeme.includes('\\') ? (JSON.parse(lexeme) as string) : lexeme.slice(1, -1);
        const names = stack[stack.length - 1] as Set<string>;
        if (names.has(name)) return name;
        names.add(name);
        expectName = false;
      }
      i = end - 1;
    } else if (c === OPEN_OBJECT) {
      stack.push(new Set());
      expectName = true;
    } else if (c === OPEN_ARRAY) {
      stack.push(null);
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      stack.pop();
      expectName = false;
    } else if (c === COMMA) {
      expectName = stack.at(-1) instanceof Set;
    }
  }
  return null;
}

/** Throws `json_duplicate_key` when `text` (valid JSON) names a member twice in one object. */
export function assertUniqueMembers(text: string, what: string): void {
  const duplicate = findDuplicateMember(text);
  if (duplicate !== null) throw new DuplicateMemberError(what, duplicate);
}

/**
 * JSON.parse that refuses a repeated member name (`json_duplicate_key`, naming `what`). Text that
 * is not JSON throws JSON.parse's SyntaxError, for the caller to turn into its own code.
 */
export function parseStrictJson(text: string, what = 'the JSON text'): unknown {
  const value: unknown = JSON.parse(text);
  if (typeof value === 'object' && value !== null) assertUniqueMembers(text, what);
  return value;
}
