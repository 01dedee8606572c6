/** RFC 7468 textual encoding. */
import { PkiError } from './errors.js';

export type PemLabel =
  | 'CERTIFICATE'
  | 'CERTIFICATE REQUEST'
  | 'NEW CERTIFICATE REQUEST'
  | 'X509 CRL'
  | 'PRIVATE KEY'
  | 'ENCRYPTED PRIVATE KEY'
  | 'PUBLIC KEY'
  | 'OCSP REQUEST'
  | 'OCSP RESPONSE';

export interface PemBlock {
  readonly label: string;
  readonly der: Buffer;
}

export function encodePem(label: PemLabel, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n\t ]*?)-----END \1-----/g;

/** Every PEM block in `text`, in order. */
export function decodePemAll(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK)) {
    const body = (m[2] as string).replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0) {
      throw new PkiError('pem_invalid', `PEM block "${m[1]}" is not valid base64`);
    }
    out.push({ label: m[1] as string, der: Buffer.from(body, 'base64') });
  }
  return out;
}

/** The one PEM block in `text`, which must carry one of `labels`. */
export function decodePem(text: string, ...labels: PemLabel[]): PemBlock {
  const blocks = decodePemAll(text);
  const block = blocks[0];
  if (!block) {
    throw new PkiError('pem_invalid', `expected a PEM block labelled ${labels.join(' or ')}; found none`);
  }
  if (labels.length > 0 && !labels.includes(block.label as PemLabel)) {
    throw new PkiError('pem_invalid', `expected a PEM block labelled ${labels.join(' or ')}; got "${block.label}"`);
  }
  return block;
}

/** PEM text or raw DER bytes in, DER out: files on disk come in both forms. */
export function toDer(input: Uint8Array | string, ...labels: PemLabel[]): Buffer {
  if (typeof input === 'string') return decodePem(input, ...labels).der;
  const head = Buffer.from(input.subarray(0, 64)).toString('latin1');
  if (head.includes('-----BEGIN ')) return decodePem(Buffer.from(input).toString('latin1'), ...labels).der;
  return Buffer.from(input);
}
