/**
 * Strict readers of the JWS shapes our formats use; internal to this package (the format parsers
 * pass their own malformed code through `Fields`).
 */
import { ProtocolError } from './errors.js';
import { decodeBase64urlStrict, type Fields, quote } from './fields.js';
import { decodeProtectedHeader, type GeneralJws, isJwsAlgorithm, type JwsAlgorithm, type JwsSignature } from './jws.js';

/**
 * Reads the General JSON Serialization shape strictly: exactly `payload` and `signatures`, exactly
 * `count` signatures, each exactly `protected` and `signature` (no unprotected `header`), all
 * canonical base64url. Failures use the caller's malformed code.
 */
export function readGeneralJws(value: unknown, count: number, fields: Fields, what: string): GeneralJws {
  const top = fields.object(value, what, ['payload', 'signatures']);
  if (typeof top.payload !== 'string' || decodeBase64urlStrict(top.payload) === null) {
    fields.fail(`${what} payload must be canonical base64url text`);
  }
  const signatures = fields.array(top.signatures, `${what} signatures`, count, count).map((s, i) => {
    const sig = fields.object(s, `${what} signature ${i + 1}`, ['protected', 'signature']);
    for (const member of ['protected', 'signature'] as const) {
      const text = sig[member];
      if (typeof text !== 'string' || text.length === 0 || decodeBase64urlStrict(text) === null) {
        fields.fail(`${what} signature ${i + 1} "${member}" must be canonical base64url text`);
      }
    }
    return { protected: sig.protected as string, signature: sig.signature as string };
  });
  return { payload: top.payload, signatures };
}

/**
 * The protected header of signature `index` with exactly `members`, its `alg` one we accept.
 * Structural failures use the caller's malformed code; an unknown `alg` is `jws_algorithm_unsupported`.
 */
export function readProtectedHeader(
  jws: GeneralJws,
  index: number,
  members: readonly string[],
  fields: Fields,
  what: string,
): Record<string, unknown> & { alg: JwsAlgorithm } {
  let header: Record<string, unknown>;
  try {
    header = decodeProtectedHeader(jws.signatures[index] as JwsSignature);
  } catch (e) {
    if (e instanceof ProtocolError && e.code === 'jws_malformed') fields.fail(`${what}: ${e.message}`);
    throw e;
  }
  if (Object.hasOwn(header, 'alg') && !isJwsAlgorithm(header.alg)) {
    throw new ProtocolError(
      'jws_algorithm_unsupported',
      `${what} alg ${quote(header.alg)} is not accepted; only ES256, ES384 and RS256 are`,
    );
  }
  return fields.object(header, what, members) as Record<string, unknown> & { alg: JwsAlgorithm };
}
