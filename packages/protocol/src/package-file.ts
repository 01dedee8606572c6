/**
 * The provisioning package file (.ppkg, docs/formats.md): bootstrap configuration for a system.
 * It carries the bootstrap credential's PRIVATE KEY, so callers write it with mode 0600, and
 * devices delete it after use. One package provisions many devices.
 *
 * The file itself is not signed: what matters is signed elsewhere. The bootstrap certificate must
 * chain to the package root (`openPackage`), and the service only accepts requests whose bootstrap
 * certificate it issued for a package it still knows as active.
 */
import {
  createKeySigner,
  decodePemAll,
  encodePem,
  importPrivateKeyPem,
  KEY_TYPES,
  type KeyType,
  OID,
  type ParsedCertificate,
  parseCertificate,
  PkiError,
  type Signer,
  verifyChain,
  formatName,
} from '@provisio/pki';
import { ProtocolError } from './errors.js';
import { Fields, fileBytes, parseJson } from './fields.js';
import { MAX_CHAIN_CERTIFICATES } from './request.js';

export const PACKAGE_FILE_EXTENSION = '.ppkg';
export const PACKAGE_MEDIA_TYPE = 'application/vnd.provisio.package+json';
export const PACKAGE_VERSION = 1;
/** 64 KiB: an RSA-3072 package with a two-certificate chain is ~8 KiB. */
export const MAX_PACKAGE_BYTES = 64 * 1024;
export const PACKAGE_NOTICE =
  'This file holds a private key that lets devices request certificates for this system. Keep it secret; delete this file from each device after use.';
/** Device certificate validity a package may announce: 1 day to 10 years (the server's policy is tighter). */
export const MAX_VALIDITY_DAYS = 3650;
/** A request may live from 1 minute to 1 year. */
export const MIN_REQUEST_LIFETIME_SECONDS = 60;
export const MAX_REQUEST_LIFETIME_SECONDS = 365 * 86_400;
/** Components a package may list. */
export const MAX_COMPONENTS = 256;

export interface PackageComponent {
  readonly name: string;
  /** Key types a device of this component may generate; the first is preferred. */
  readonly keyTypes: readonly KeyType[];
  readonly validityDays: number;
}

export interface ProvisioningPackage {
  readonly format: 'provisio.package';
  readonly v: 1;
  readonly packageId: string;
  readonly system: string;
  readonly components: readonly PackageComponent[];
  /** PEM: the root certificate requests and profiles are checked against. */
  readonly rootOfTrust: string;
  readonly serviceUrl: string;
  /** How long a request made with this package lives (expiresAt − createdAt), in seconds. */
  readonly requestLifetimeSeconds: number;
  readonly keyTemplate: { readonly defaultKeyType: KeyType };
  readonly bootstrap: {
    /** PEM, the bootstrap certificate first, intermediates after, the root excluded. */
    readonly certificateChain: string;
    /** Unencrypted PKCS#8 PEM. */
    readonly privateKey: string;
  };
  /** RFC 3339. */
  readonly createdAt: string;
  /** RFC 3339; the package is refused from then on. */
  readonly expiresAt: string;
  /** For the person who finds the file: what it is and to delete it after use. */
  readonly notice: string;
}

export interface OpenedPackage {
  readonly root: ParsedCertificate;
  /** The bootstrap certificate first. */
  readonly bootstrapChain: readonly ParsedCertificate[];
  readonly bootstrapSigner: Signer;
  readonly expiresAt: Date;
}

const KEYS = [
  'format',
  'v',
  'packageId',
  'system',
  'components',
  'rootOfTrust',
  'serviceUrl',
  'requestLifetimeSeconds',
  'keyTemplate',
  'bootstrap',
  'createdAt',
  'expiresAt',
  'notice',
] as const;

const fields = new Fields('package_malformed');

function keyType(value: unknown, what: string): KeyType {
  if (typeof value !== 'string' || !KEY_TYPES.includes(value as KeyType)) {
    fields.fail(`${what} must be one of ${KEY_TYPES.join(', ')}`);
  }
  return value as KeyType;
}

function parseCertificatesPem(text: string, what: string): ParsedCertificate[] {
  const blocks = fields.pki(what, () => decodePemAll(text));
  if (blocks.length < 1 || blocks.length > MAX_CHAIN_CERTIFICATES) {
    fields.fail(`${what} must hold 1 to ${MAX_CHAIN_CERTIFICATES} PEM certificates; found ${blocks.length}`);
  }
  const certificates = blocks.map((block, i) => {
    if (block.label !== 'CERTIFICATE') fields.fail(`${what} block ${i + 1} is "${block.label}", not a CERTIFICATE`);
    return fields.pki(`${what} certificate ${i + 1}`, () => parseCertificate(block.der));
  });
  // One spelling: RFC 7468 §2 strict form, 64-character lines, nothing between or around blocks.
  if (certificateChainPem(certificates.map((c) => c.der)) !== text) {
    fields.fail(`${what} must be PEM certificates only, in RFC 7468 strict form (64-character lines, nothing else)`);
  }
  return certificates;
}

interface Contents {
  readonly pkg: ProvisioningPackage;
  readonly root: ParsedCertificate;
  readonly bootstrapChain: ParsedCertificate[];
  readonly bootstrapSigner: Signer;
  readonly expiresAt: Date;
}

/** Every check on the fields and the key material; no trust or time decision. */
function checkPackage(value: unknown): Contents {
  const record = fields.record(value, 'the package');
  if (record.format === 'provisio.package' && typeof record.v === 'number' && record.v !== PACKAGE_VERSION) {
    throw new ProtocolError(
      'package_version_unsupported',
      `the package has format version ${record.v}; this software reads version ${PACKAGE_VERSION}. Update Provisio on this device`,
    );
  }
  const p = fields.object(record, 'the package', KEYS);
  fields.literal(p.format, 'the package "format"', 'provisio.package');
  if (p.v !== PACKAGE_VERSION) fields.fail(`the package "v" must be ${PACKAGE_VERSION}`);

  const names = new Set<string>();
  const components = fields.array(p.components, 'components', 1, MAX_COMPONENTS).map((entry, i): PackageComponent => {
    const c = fields.object(entry, `components[${i}]`, ['name', 'keyTypes', 'validityDays']);
    const name = fields.name(c.name, `components[${i}].name`);
    if (names.has(name)) fields.fail(`component "${name}" is listed twice`);
    names.add(name);
    const keyTypes = fields.array(c.keyTypes, `components[${i}].keyTypes`, 1, KEY_TYPES.length).map((k, j) => keyType(k, `components[${i}].keyTypes[${j}]`));
    if (new Set(keyTypes).size !== keyTypes.length) fields.fail(`components[${i}].keyTypes lists a key type twice`);
    return { name, keyTypes, validityDays: fields.integer(c.validityDays, `components[${i}].validityDays`, 1, MAX_VALIDITY_DAYS) };
  });

  const rootPem = fields.string(p.rootOfTrust, 'rootOfTrust', 1, 16 * 1024);
  const [root, extra] = parseCertificatesPem(rootPem, 'rootOfTrust');
  if (extra) fields.fail('rootOfTrust must hold exactly one certificate');

  const kt = fields.object(p.keyTemplate, 'keyTemplate', ['defaultKeyType']);
  const b = fields.object(p.bootstrap, 'bootstrap', ['certificateChain', 'privateKey']);
  const chainPem = fields.string(b.certificateChain, 'bootstrap.certificateChain', 1, 48 * 1024);
  const bootstrapChain = parseCertificatesPem(chainPem, 'bootstrap.certificateChain');
  const keyPem = fields.string(b.privateKey, 'bootstrap.privateKey', 1, 16 * 1024);
  const privateKey = fields.pki('bootstrap.privateKey', () => importPrivateKeyPem(keyPem));
  const bootstrapSigner = createKeySigner(privateKey);
  const bootstrapCert = bootstrapChain[0] as ParsedCertificate;
  if (!bootstrapSigner.publicKey.spki.equals(bootstrapCert.publicKey.spki)) {
    fields.fail('bootstrap.privateKey does not belong to the bootstrap certificate; the package file is damaged');
  }

  const createdAt = fields.timestamp(p.createdAt, 'createdAt');
  const expiresAt = fields.timestamp(p.expiresAt, 'expiresAt');
  if (!(createdAt < expiresAt)) fields.fail('the package expires before it was created');

  const pkg: ProvisioningPackage = {
    format: 'provisio.package',
    v: PACKAGE_VERSION,
    packageId: fields.identifier(p.packageId, 'packageId'),
    system: fields.name(p.system, 'system'),
    components,
    rootOfTrust: rootPem,
    serviceUrl: fields.url(p.serviceUrl, 'serviceUrl'),
    requestLifetimeSeconds: fields.integer(
      p.requestLifetimeSeconds,
      'requestLifetimeSeconds',
      MIN_REQUEST_LIFETIME_SECONDS,
      MAX_REQUEST_LIFETIME_SECONDS,
    ),
    keyTemplate: { defaultKeyType: keyType(kt.defaultKeyType, 'keyTemplate.defaultKeyType') },
    bootstrap: { certificateChain: chainPem, privateKey: keyPem },
    createdAt: p.createdAt as string,
    expiresAt: p.expiresAt as string,
    notice: fields.string(p.notice, 'notice', 1, 1024),
  };
  return { pkg, root: root as ParsedCertificate, bootstrapChain, bootstrapSigner, expiresAt };
}

/** The package as file text (JSON, members in the documented order, trailing newline). */
export function serializePackage(pkg: ProvisioningPackage): string {
  const { pkg: checked } = checkPackage(pkg);
  return `${JSON.stringify(checked, null, 2)}\n`;
}

/** Strict parse of a package file. Throws `package_malformed` or `package_version_unsupported`. */
export function parsePackage(text: string | Uint8Array): ProvisioningPackage {
  const raw = fileBytes(text, MAX_PACKAGE_BYTES, (size) =>
    fields.fail(`the package file is ${size} bytes; at most ${MAX_PACKAGE_BYTES} are accepted. Is this a provisioning package (.ppkg) file?`),
  );
  return checkPackage(parseJson(raw, 'the package file', fields)).pkg;
}

/**
 * Opens a package for use at `at`: the bootstrap certificate must chain to the package root with
 * the request-signing purpose. Throws `package_expired` when the package or its bootstrap
 * certificate expired, `package_untrusted` for any other trust failure.
 */
export function openPackage(pkg: ProvisioningPackage, at: Date): OpenedPackage {
  const { root, bootstrapChain, bootstrapSigner, expiresAt } = checkPackage(pkg);
  const bootstrap = bootstrapChain[0] as ParsedCertificate;
  if (!(at < expiresAt)) {
    throw new ProtocolError(
      'package_expired',
      `package ${pkg.packageId} expired at ${expiresAt.toISOString()}; ask an administrator for a new one ("provisio package create")`,
    );
  }
  if (at > bootstrap.notAfter) {
    throw new ProtocolError(
      'package_expired',
      `the bootstrap certificate of package ${pkg.packageId} expired at ${bootstrap.notAfter.toISOString()}; ask an administrator for a new package ("provisio package create")`,
    );
  }
  try {
    verifyChain({
      leaf: bootstrap,
      intermediates: bootstrapChain.slice(1),
      roots: [root],
      at,
      requiredExtKeyUsage: OID.kpProvisioRequestSigning,
    });
  } catch (e) {
    if (!(e instanceof PkiError)) throw e;
    throw new ProtocolError(
      'package_untrusted',
      `the bootstrap certificate "${formatName(bootstrap.subject)}" of package ${pkg.packageId} does not chain to the package root for request signing (${e.code}: ${e.message})`,
    );
  }
  return { root, bootstrapChain, bootstrapSigner, expiresAt };
}

/** Helper for whoever builds packages: PEM text of a chain given as DER, leaf first. */
export function certificateChainPem(chain: readonly Uint8Array[]): string {
  return chain.map((der) => encodePem('CERTIFICATE', der)).join('');
}
