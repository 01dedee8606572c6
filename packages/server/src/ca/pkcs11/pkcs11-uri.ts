/**
 * PKCS#11 URIs (RFC 7512) naming a key in a token: `pkcs11:token=CA;object=issuing-ca`.
 * Only what Provisio uses is accepted; a PIN in the URI (`pin-value`) is refused, because URIs
 * end up in shell history, process lists and logs — the PIN comes from a 0600 file.
 */
import { ServiceError } from '../../domain/errors.js';

export interface Pkcs11Uri {
  /** The token label (CKA_LABEL of the token, blank padding removed). */
  readonly token: string;
  /** The key's CKA_LABEL. */
  readonly object: string;
  /** The key's CKA_ID, when the URI names one. */
  readonly id?: Buffer;
  /** The token's serial number, to tell apart tokens with the same label. */
  readonly serial?: string;
  /** `module-path` from the query: the PKCS#11 library to load. */
  readonly modulePath?: string;
}

const PATH_ATTRIBUTES = new Set(['token', 'object', 'id', 'serial', 'type', 'manufacturer', 'model']);
const QUERY_ATTRIBUTES = new Set(['module-path']);

function invalid(detail: string): ServiceError {
  return new ServiceError('pkcs11_uri_invalid', `${detail}; expected a PKCS#11 URI like 'pkcs11:token=CA;object=issuing-ca' (RFC 7512)`);
}

function decode(value: string, name: string): Buffer {
  // RFC 7512 §2.3: values are percent-encoded bytes; a lone % is an error, not a literal.
  if (/%(?![0-9a-fA-F]{2})/.test(value)) throw invalid(`the ${name} attribute has a bad percent-encoding`);
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    if (value[i] === '%') {
      bytes.push(Number.parseInt(value.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(value[i] as string, 'utf8'));
    }
  }
  return Buffer.from(bytes);
}

function attributes(part: string, separator: string, allowed: ReadonlySet<string>, where: string): Map<string, Buffer> {
  const found = new Map<string, Buffer>();
  if (part === '') return found;
  for (const item of part.split(separator)) {
    const eq = item.indexOf('=');
    const name = eq < 0 ? item : item.slice(0, eq);
    if (name === 'pin-value' || name === 'pin-source') throw invalid('the URI must not carry the PIN (pin-value, pin-source): pass --pin-file FILE');
    if (!allowed.has(name)) throw invalid(`unknown ${where} attribute "${name.slice(0, 40)}"`);
    if (eq < 0) throw invalid(`the ${name} attribute has no value`);
    if (found.has(name)) throw invalid(`the ${name} attribute is given twice`);
    found.set(name, decode(item.slice(eq + 1), name));
  }
  return found;
}

export function parsePkcs11Uri(text: string): Pkcs11Uri {
  if (text.length > 2048) throw invalid('the URI is longer than 2048 characters');
  if (!text.startsWith('pkcs11:')) throw invalid(`"${text.slice(0, 40)}" does not start with pkcs11:`);
  const rest = text.slice('pkcs11:'.length);
  const q = rest.indexOf('?');
  const path = attributes(q < 0 ? rest : rest.slice(0, q), ';', PATH_ATTRIBUTES, 'path');
  const query = attributes(q < 0 ? '' : rest.slice(q + 1), '&', QUERY_ATTRIBUTES, 'query');
  const type = path.get('type')?.toString('utf8');
  if (type !== undefined && type !== 'private') throw invalid(`type=${type.slice(0, 20)} names no private key; use type=private or leave it out`);
  const token = path.get('token')?.toString('utf8');
  const object = path.get('object')?.toString('utf8');
  if (!token) throw invalid('the URI names no token (token=LABEL)');
  if (!object) throw invalid('the URI names no key (object=LABEL)');
  return {
    token,
    object,
    ...(path.has('id') ? { id: path.get('id') as Buffer } : {}),
    ...(path.has('serial') ? { serial: (path.get('serial') as Buffer).toString('utf8') } : {}),
    ...(query.has('module-path') ? { modulePath: (query.get('module-path') as Buffer).toString('utf8') } : {}),
  };
}

/** The URI of another object in the same token (the service's own keys, D44). */
export function formatPkcs11Uri(uri: Pick<Pkcs11Uri, 'token' | 'object'>): string {
  const enc = (s: string) => [...Buffer.from(s, 'utf8')].map((b) => (/[A-Za-z0-9\-._~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, '0')}`)).join('');
  return `pkcs11:token=${enc(uri.token)};object=${enc(uri.object)}`;
}
