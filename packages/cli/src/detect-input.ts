/**
 * What did the user hand to `provisio inspect`? PEM is decided by its label (RFC 7468); DER by
 * the shape of its first fields, so the matching parser runs and its precise error is reported
 * instead of "tried four parsers, none worked".
 */
import {
  children,
  DEFAULT_MAX_DEPTH,
  decodePemAll,
  decodeSmallInteger,
  type PemBlock,
  PkiError,
  readRoot,
  Tag,
} from '@provisio/pki';
import { CliError } from './errors.js';
import { MAX_INPUT_BYTES } from './files.js';

export type InputKind = 'certificate' | 'csr' | 'crl' | 'ocsp-response';

export interface DetectedInput {
  readonly kind: InputKind;
  readonly der: Buffer;
  /** Further certificates after the first block of a PEM bundle (possible intermediates). */
  readonly more: readonly Buffer[];
}

const LABELS: Readonly<Record<string, InputKind>> = {
  'CERTIFICATE': 'certificate',
  'TRUSTED CERTIFICATE': 'certificate',
  'CERTIFICATE REQUEST': 'csr',
  'NEW CERTIFICATE REQUEST': 'csr',
  'X509 CRL': 'crl',
  'OCSP RESPONSE': 'ocsp-response',
};

const WHAT = 'a certificate, CSR, CRL or OCSP response';

function unrecognized(message: string, hint?: string): CliError {
  return new CliError('input_unrecognized', message, hint);
}

export function detectInput(bytes: Buffer, name: string): DetectedInput {
  if (bytes.length === 0) throw unrecognized(`${name} is empty; expected ${WHAT}`);
  const head = bytes.subarray(0, 4096).toString('latin1');
  if (head.includes('-----BEGIN ')) return detectPem(bytes.toString('utf8'), name);
  return { kind: sniffDer(bytes, name), der: bytes, more: [] };
}

function detectPem(text: string, name: string): DetectedInput {
  const blocks: PemBlock[] = decodePemAll(text);
  const first = blocks[0];
  if (!first) {
    throw new PkiError('pem_invalid', `${name} has a "-----BEGIN" line but no complete PEM block`);
  }
  if (first.label.includes('PRIVATE KEY')) {
    throw unrecognized(
      `${name} holds a private key (${first.label}); inspect reads ${WHAT}, not keys`,
      'to check that a key opens: openssl pkey -in FILE -noout',
    );
  }
  const kind = LABELS[first.label];
  if (!kind) throw unrecognized(`${name} holds a PEM block labelled "${first.label}"; expected ${WHAT}`);
  const more = kind === 'certificate' ? blocks.slice(1).filter((b) => LABELS[b.label] === 'certificate') : [];
  return { kind, der: first.der, more: more.map((b) => b.der) };
}

/**
 * Certificate:     SEQUENCE { SEQUENCE { [0] version, ... }, ... }       (X.509 v3)
 * CSR:             SEQUENCE { SEQUENCE { INTEGER 0, Name, ... }, ... }    (RFC 2986)
 * CRL:             SEQUENCE { SEQUENCE { INTEGER 1 | AlgorithmIdentifier, ... }, ... } (RFC 5280 §5.1)
 * OCSP response:   SEQUENCE { ENUMERATED responseStatus, ... }            (RFC 6960 §4.2.1)
 * A v1 certificate starts with its serial INTEGER; it goes to the certificate parser, which
 * says plainly that only v3 is accepted.
 */
function sniffDer(der: Buffer, name: string): InputKind {
  let kind: InputKind | null = null;
  try {
    const root = readRoot(der, { maxBytes: MAX_INPUT_BYTES, maxDepth: DEFAULT_MAX_DEPTH });
    if (root.tag === Tag.SEQUENCE) {
      const [first] = children(der, root);
      if (first?.tag === Tag.ENUMERATED) kind = 'ocsp-response';
      else if (first?.tag === Tag.SEQUENCE) {
        const [inner] = children(der, first);
        if (inner?.tag === 0xa0) kind = 'certificate';
        else if (inner?.tag === Tag.SEQUENCE) kind = 'crl';
        else if (inner?.tag === Tag.INTEGER) {
          const n = inner.end - inner.contentStart === 1 ? decodeSmallInteger(der, inner, 'version') : -1;
          kind = n === 0 ? 'csr' : n === 1 ? 'crl' : 'certificate';
        }
      }
    }
  } catch (e) {
    if (!(e instanceof PkiError)) throw e;
    if (e.code === 'input_too_large') throw e;
    kind = null;
  }
  if (!kind) {
    throw unrecognized(
      `${name} is neither PEM nor DER of ${WHAT}`,
      'inspect reads PEM ("-----BEGIN CERTIFICATE-----") or binary DER; is this the right file?',
    );
  }
  return kind;
}
