/**
 * The bundle (.pbdl, docs/formats.md "Bundles"): many request files, or many certified profiles,
 * carried as one file for disconnected delivery at scale. A signed manifest lists every entry by
 * name, size and SHA-256 of its exact bytes; the entries' bytes travel beside it:
 *
 *   { "manifest": <General JWS, one signature, payload = the manifest>,
 *     "entries":  [ { "name", "content": <base64 of the exact file bytes> }, … ] }
 *
 * The signature covers only the manifest (small, and readable on its own), and each entry is
 * bound to it by its hash, so nothing can be added, removed, reordered or changed. Who signs
 * depends on the type: a request bundle by the package's bootstrap credential (request-signing
 * purpose), a profile bundle by the service's profile signer (profile-signing purpose). Each
 * entry keeps its own signatures: the bundle vouches for the set, not for what is inside.
 */
import { createHash } from 'node:crypto';
import {
  formatName,
  MAX_CERTIFICATE_BYTES,
  OID,
  type ParsedCertificate,
  parseCertificate,
  PkiError,
  type Signer,
  verifyChain,
} from '@provisio/pki';
import { isProtocolError, ProtocolError } from './errors.js';
import { Fields, fileBytes, parseJson, quote } from './fields.js';
import { fromBase64url, type GeneralJws, signJws, verifyJwsSignature } from './jws.js';
import { readGeneralJws, readProtectedHeader } from './read-jws.js';
import { MAX_PROFILE_BYTES } from './profile.js';
import { MAX_CHAIN_CERTIFICATES, MAX_REQUEST_BYTES } from './request.js';

export const BUNDLE_MEDIA_TYPE = 'application/vnd.provisio.bundle+json';
export const BUNDLE_FILE_EXTENSION = '.pbdl';
export const BUNDLE_JWS_TYPE = 'provisio-bundle+jws';
export const BUNDLE_VERSION = 1;
/** A field technician's day at scale: 10,000 devices in one bundle. */
export const MAX_BUNDLE_ENTRIES = 10_000;
/**
 * 64 MiB, checked before anything is decoded: 10,000 P-256 requests (~3 KiB) or profiles
 * (~4 KiB) are ~30-40 MiB of entries, ~4/3 of that in base64.
 */
export const MAX_BUNDLE_BYTES = 64 * 1024 * 1024;
/** An entry is one request or one profile file, each at most 64 KiB. */
export const MAX_BUNDLE_ENTRY_BYTES = Math.max(MAX_REQUEST_BYTES, MAX_PROFILE_BYTES);

export type BundleType = 'provisio.request-bundle' | 'provisio.profile-bundle';

export const BUNDLE_TYPES: Readonly<Record<BundleType, { readonly extension: string; readonly purpose: string; readonly signer: string }>> = {
  'provisio.request-bundle': { extension: '.ppr', purpose: OID.kpProvisioRequestSigning, signer: 'a package bootstrap credential' },
  'provisio.profile-bundle': { extension: '.pcp', purpose: OID.kpProvisioProfileSigning, signer: 'the service profile signer' },
};

export interface BundleManifestEntry {
  /** A file name: 1-128 of A-Z a-z 0-9 . _ - starting with a letter or digit, ending .ppr or .pcp. */
  readonly name: string;
  /** SHA-256 (64 lower-case hex digits) of the entry's exact bytes. */
  readonly sha256: string;
  readonly size: number;
}

export interface BundleManifest {
  readonly v: 1;
  readonly type: BundleType;
  /** Request bundles: the package whose bootstrap credential signed the bundle. Profile bundles: null. */
  readonly packageId: string | null;
  /** RFC 3339. */
  readonly createdAt: string;
  readonly entries: readonly BundleManifestEntry[];
}

export interface BundleEntry extends BundleManifestEntry {
  /** The entry file, exactly as bundled (its SHA-256 was checked against the manifest). */
  readonly content: Buffer;
}

export interface ParsedBundle {
  readonly raw: Buffer;
  /** SHA-256 (hex) of the whole bundle file. */
  readonly contentHash: string;
  readonly manifest: BundleManifest;
  readonly entries: readonly BundleEntry[];
  /** The header `x5c`, parsed: the signer's certificate first. */
  readonly signerChain: readonly ParsedCertificate[];
  readonly createdAt: Date;
  readonly jws: GeneralJws;
}

const fields = new Fields('bundle_malformed');
const HEADER = ['alg', 'typ', 'x5c'] as const;
const MANIFEST_KEYS = ['v', 'type', 'packageId', 'createdAt', 'entries'] as const;
const ENTRY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * An entry name becomes a file name when the bundle is extracted, on any file system: no path,
 * no hidden file, and unique ignoring case (FAT and exFAT USB sticks are case-insensitive).
 */
export function checkBundleEntryName(name: unknown, type: BundleType, what = 'an entry name'): string {
  const text = fields.string(name, what, 1, 128);
  const { extension } = BUNDLE_TYPES[type];
  if (!ENTRY_NAME.test(text) || !text.endsWith(extension) || text.length === extension.length) {
    fields.fail(`${what} ${quote(text)} must be 1-128 characters of A-Z a-z 0-9 . _ - starting with a letter or digit and ending "${extension}"`);
  }
  return text;
}

function checkManifest(value: unknown): { manifest: BundleManifest; createdAt: Date } {
  const record = fields.record(value, 'the bundle manifest');
  if (typeof record.v === 'number' && record.v !== BUNDLE_VERSION) {
    throw new ProtocolError(
      'bundle_version_unsupported',
      `the bundle has format version ${record.v}; this software reads version ${BUNDLE_VERSION}. Update Provisio to read it`,
    );
  }
  const m = fields.object(record, 'the bundle manifest', MANIFEST_KEYS);
  if (m.v !== BUNDLE_VERSION) fields.fail(`the bundle manifest "v" must be ${BUNDLE_VERSION}`);
  if (m.type !== 'provisio.request-bundle' && m.type !== 'provisio.profile-bundle') {
    fields.fail(`the bundle manifest "type" must be "provisio.request-bundle" or "provisio.profile-bundle"; got ${quote(m.type)}`);
  }
  const type = m.type as BundleType;
  const packageId = type === 'provisio.request-bundle' ? fields.identifier(m.packageId, 'packageId') : m.packageId;
  if (type === 'provisio.profile-bundle' && packageId !== null) fields.fail('a profile bundle has "packageId": null');
  const createdAt = fields.timestamp(m.createdAt, 'createdAt');
  const names = new Set<string>();
  const hashes = new Set<string>();
  const entries = fields.array(m.entries, 'the manifest entries', 1, MAX_BUNDLE_ENTRIES).map((e, i): BundleManifestEntry => {
    const entry = fields.object(e, `manifest entry ${i + 1}`, ['name', 'sha256', 'size']);
    const name = checkBundleEntryName(entry.name, type, `manifest entry ${i + 1} name`);
    const hash = fields.string(entry.sha256, `manifest entry ${i + 1} sha256`, 64, 64);
    if (!SHA256_HEX.test(hash)) fields.fail(`manifest entry ${i + 1} sha256 must be 64 lower-case hex digits`);
    const size = fields.integer(entry.size, `manifest entry ${i + 1} size`, 1, MAX_BUNDLE_ENTRY_BYTES);
    const key = name.toLowerCase();
    if (names.has(key)) fields.fail(`the bundle names ${quote(name)} twice (names are compared ignoring case)`);
    if (hashes.has(hash)) fields.fail(`entry ${quote(name)} has the same content as an earlier entry; a bundle holds each file once`);
    names.add(key);
    hashes.add(hash);
    return { name, sha256: hash, size };
  });
  return { manifest: { v: BUNDLE_VERSION, type, packageId: packageId as string | null, createdAt: m.createdAt as string, entries }, createdAt };
}

function parseSignerChain(value: unknown): ParsedCertificate[] {
  return fields.array(value, 'the bundle x5c', 1, MAX_CHAIN_CERTIFICATES).map((entry, i) => {
    const der = fields.base64Der(entry, `x5c[${i}]`, MAX_CERTIFICATE_BYTES);
    return fields.pki(`x5c[${i}]`, () => parseCertificate(der));
  });
}

/**
 * Signs a bundle of `entries` (files as bytes, in this order) and returns the file text. The
 * manifest is checked as `parseBundle` would check it. `signerChain` (DER, signer first, root
 * excluded) must start with the signer's certificate.
 */
export async function createBundle(input: {
  readonly type: BundleType;
  /** Request bundles: the package of the bootstrap credential. Profile bundles: null. */
  readonly packageId: string | null;
  readonly createdAt: Date;
  readonly entries: ReadonlyArray<{ readonly name: string; readonly content: Uint8Array }>;
  readonly signer: Signer;
  readonly signerChain: readonly Buffer[];
}): Promise<string> {
  const manifest: BundleManifest = {
    v: BUNDLE_VERSION,
    type: input.type,
    packageId: input.packageId,
    createdAt: input.createdAt.toISOString(),
    entries: input.entries.map((e) => ({ name: e.name, sha256: sha256(e.content), size: e.content.byteLength })),
  };
  checkManifest(manifest);
  const chain = parseSignerChain(input.signerChain.map((der) => der.toString('base64')));
  if (!(chain[0] as ParsedCertificate).publicKey.spki.equals(input.signer.publicKey.spki)) {
    fields.fail('the bundle signer\'s key is not the key of the first certificate in signerChain');
  }
  const jws = await signJws(Buffer.from(JSON.stringify(manifest), 'utf8'), [
    { signer: input.signer, header: { typ: BUNDLE_JWS_TYPE, x5c: chain.map((c) => c.der.toString('base64')) } },
  ]);
  const entries = input.entries.map((e) => ({ name: e.name, content: Buffer.from(e.content).toString('base64') }));
  return `${JSON.stringify({ manifest: jws, entries }, null, 2)}\n`;
}

/**
 * Structural parse: size limit, exact shape, limits, unique names and contents, and every
 * entry's bytes against the manifest. Verifies no signature (see `verifyBundle`).
 * Throws `bundle_too_large`, `bundle_malformed`, `bundle_version_unsupported`,
 * `bundle_hash_mismatch` (an entry added, removed, renamed, reordered or changed) or
 * `jws_algorithm_unsupported`.
 */
export function parseBundle(input: string | Uint8Array): ParsedBundle {
  const raw = fileBytes(input, MAX_BUNDLE_BYTES, (size) => {
    throw new ProtocolError('bundle_too_large', `the bundle is ${size} bytes; at most ${MAX_BUNDLE_BYTES} are accepted. Split it into smaller bundles`);
  });
  const top = fields.object(parseJson(raw, 'the bundle', fields), 'the bundle', ['manifest', 'entries']);
  const jws = readGeneralJws(top.manifest, 1, fields, 'the bundle manifest');
  const header = readProtectedHeader(jws, 0, HEADER, fields, 'the bundle signature header');
  fields.literal(header.typ, 'the bundle signature header "typ"', BUNDLE_JWS_TYPE);
  const signerChain = parseSignerChain(header.x5c);
  const { manifest, createdAt } = checkManifest(parseJson(fromBase64url(jws.payload), 'the bundle manifest', fields));

  const carried = fields.array(top.entries, 'the bundle entries', 0, MAX_BUNDLE_ENTRIES).map((e, i) => {
    const entry = fields.object(e, `bundle entry ${i + 1}`, ['name', 'content']);
    return { name: fields.string(entry.name, `bundle entry ${i + 1} name`, 1, 128), content: fields.base64(entry.content, `bundle entry ${i + 1} content`, MAX_BUNDLE_ENTRY_BYTES) };
  });
  if (carried.length !== manifest.entries.length) {
    throw new ProtocolError(
      'bundle_hash_mismatch',
      `the bundle carries ${carried.length} entries but its signed manifest lists ${manifest.entries.length}: an entry was ${carried.length > manifest.entries.length ? 'added' : 'removed'}`,
    );
  }
  const entries = manifest.entries.map((listed, i): BundleEntry => {
    const entry = carried[i] as { name: string; content: Buffer };
    if (entry.name !== listed.name) {
      throw new ProtocolError('bundle_hash_mismatch', `bundle entry ${i + 1} is ${quote(entry.name)} but the signed manifest lists ${quote(listed.name)} there`);
    }
    if (entry.content.length !== listed.size || sha256(entry.content) !== listed.sha256) {
      throw new ProtocolError('bundle_hash_mismatch', `bundle entry ${quote(listed.name)} is not the file the signed manifest lists (SHA-256 or size differs): it was changed`);
    }
    return { ...listed, content: entry.content };
  });
  return { raw, contentHash: sha256(raw), manifest, entries, signerChain, createdAt, jws };
}

export interface VerifyBundleOptions {
  /** Roots that may vouch for the signer (a package's rootOfTrust, or the service root). */
  readonly roots: readonly ParsedCertificate[];
  /** Further certificates that may complete the signer's path. */
  readonly intermediates?: readonly ParsedCertificate[];
  readonly at: Date;
  /** Refuse a bundle of another type (`bundle_wrong_type`). */
  readonly type?: BundleType;
}

/**
 * Verifies a parsed bundle, in this order (docs/formats.md):
 *  1. the signature by x5c[0]                                                bundle_signature_invalid
 *  2. x5c[0] chains to `roots` at `at` with the purpose of the bundle's type  bundle_untrusted
 *     (request bundle: request signing; profile bundle: profile signing)
 *  3. the type is the one expected                                           bundle_wrong_type
 * Every entry's bytes were already bound to the manifest by `parseBundle`.
 */
export function verifyBundle(bundle: ParsedBundle, options: VerifyBundleOptions): void {
  const signer = bundle.signerChain[0] as ParsedCertificate;
  try {
    verifyJwsSignature(bundle.jws, 0, signer.publicKey);
  } catch (e) {
    if (isProtocolError(e, 'jws_signature_invalid')) {
      throw new ProtocolError(
        'bundle_signature_invalid',
        `the bundle manifest signature does not verify with its signer certificate "${formatName(signer.subject)}"; the manifest was changed after it was signed`,
      );
    }
    throw e;
  }
  const spec = BUNDLE_TYPES[bundle.manifest.type];
  try {
    verifyChain({
      leaf: signer,
      intermediates: [...bundle.signerChain.slice(1), ...(options.intermediates ?? [])],
      roots: options.roots,
      at: options.at,
      requiredExtKeyUsage: spec.purpose,
    });
  } catch (e) {
    if (!(e instanceof PkiError)) throw e;
    throw new ProtocolError(
      'bundle_untrusted',
      `the bundle signer "${formatName(signer.subject)}" is not ${spec.signer} under the trusted root (${e.code}: ${e.message})`,
    );
  }
  if (options.type !== undefined && bundle.manifest.type !== options.type) {
    throw new ProtocolError('bundle_wrong_type', `this is a ${bundle.manifest.type.replace('provisio.', '')}; a ${options.type.replace('provisio.', '')} is needed here`);
  }
}
