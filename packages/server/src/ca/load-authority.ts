/**
 * The online issuing authority of a running service, from files in the data directory.
 *
 * First start without `--ca`: a development root and intermediate are created. The development
 * root's private key signs the intermediate and the root's one CRL (ca/root-crl.ts) and is never
 * written anywhere: nothing can be signed by that root again, which is the safe default for a CA
 * nobody ceremonially made.
 * With `--ca DIR`: the intermediate made by the offline ceremony (docs/ceremony.md) is used; the
 * root key stays offline. Either way the service then makes (or reuses) its profile signer and
 * its TLS server certificate, both chaining to the same root and recorded in the database.
 */
import { createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  type Clock,
  type DistributionUrls,
  type KeyType,
  type OcspResponder,
  type ParsedCertificate,
  type Random,
  type Signer,
  buildCrl,
  createIssuer,
  createKeySigner,
  encodePem,
  exportPrivateKeyPem,
  generateKey,
  importPrivateKeyPem,
  issueSelfSigned,
  parseCertificate,
  randomSerial,
  verifyChain,
} from '@provisio/pki';
import type { IssuingAuthority } from '../domain/deps.js';
import type { Store } from '../domain/store.js';
import { writeFileAtomic } from '../files.js';
import { checkCaDirectory, makeDevelopmentCaFiles, readKeyFile, readKeyPair, writeKeyPair } from './key-files.js';
import { ServiceError } from '../domain/errors.js';
import { openRootCrl, ROOT_CRL_FILE, signDevelopmentRootCrl } from './root-crl.js';
import { type IssuanceAuthority, issueCertificate } from '../issuance/issue-certificate.js';
import { type ServiceTemplate, serviceMethod } from '../issuance/methods/service.js';
import { DAY_MS as DAY, RENEW_SERVICE_BEFORE_MS } from '../issuance/validity.js';
import { Pkcs11Token, type TokenKey } from './pkcs11/pkcs11-token.js';
import type { Pkcs11Uri } from './pkcs11/pkcs11-uri.js';

/** One run of `make`, shared by every caller (a failure is retried by the next caller). */
function once<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => {
    made ??= make().catch((e: unknown) => {
      made = undefined;
      throw e;
    });
    return made;
  };
}

export interface LoadedAuthority {
  readonly authority: IssuingAuthority;
  readonly tls: { readonly key: string; readonly cert: string };
  readonly rootPath: string;
  readonly rootFingerprint: string;
  readonly isDevelopmentRoot: boolean;
  /** True when this start created the development CA. */
  readonly createdDevelopmentCa: boolean;
  /** Logs out of the HSM token, when the keys are in one. */
  close(): Promise<void>;
}

/** The issuing CA key in a PKCS#11 token (decision D44): `--ca-pkcs11 URI --pin-file F`. */
export interface Pkcs11CaKey {
  readonly uri: Pkcs11Uri;
  /** The PKCS#11 module; default the URI's module-path, then SoftHSM2's path. */
  readonly modulePath?: string;
  readonly pin: string;
}

/**
 * The labels of the service's own keys in the CA key's token (decision D44): the CA key's label
 * with a suffix, so two CAs can share a token and each key says whose it is.
 */
export function serviceKeyLabel(caObject: string, name: 'ocsp-responder' | 'profile-signer'): string {
  return `${caObject}.${name}`;
}

/** How a key is described in the start-up log: its custody, never its value. */
export function describeTokenKey(key: TokenKey): string {
  const custody = key.extractable ? 'EXTRACTABLE' : 'not extractable';
  return `${key.uri} (${key.sensitive ? 'sensitive' : 'NOT sensitive'}, ${custody})`;
}

export interface LoadAuthorityOptions {
  readonly dataDir: string;
  /** A directory holding intermediate.crt, intermediate.key and root.crt from the ceremony. */
  readonly caDir?: string;
  readonly caPassphrase?: string;
  /** The issuing CA key in an HSM instead of caDir/intermediate.key; needs caDir. */
  readonly caPkcs11?: Pkcs11CaKey;
  readonly clock: Clock;
  readonly random: Random;
  readonly store: Store;
  readonly urls: DistributionUrls;
  /** Names for the TLS certificate's subjectAltName (DNS names or IPv4 addresses). */
  readonly tlsNames: readonly string[];
  /** Where the root CRL is published: the development intermediate's CRL distribution point. */
  readonly rootCrlUrl?: string;
  /** Start-up notices (a half-made development CA remade, a key pair replaced). */
  readonly log?: (line: string) => void;
}

async function createDevelopmentCa(dir: string, clock: Clock, random: Random, rootCrlUrl: string | undefined): Promise<void> {
  const now = clock.now();
  const rootSigner = createKeySigner((await generateKey('p256')).privateKey);
  const root = await issueSelfSigned(rootSigner, {
    serial: randomSerial(random),
    subject: [
      { type: 'CN', value: 'Provisio DEVELOPMENT Root CA' },
      { type: 'O', value: 'not for production' },
    ],
    notBefore: new Date(now.getTime() - 3600_000),
    notAfter: new Date(now.getTime() + 10 * 365 * DAY),
  });
  const rootCert = parseCertificate(root.der);
  const intermediateKey = await generateKey('p256');
  const intermediateSigner = createKeySigner(intermediateKey.privateKey);
  const intermediate = await createIssuer(rootCert, rootSigner, rootCrlUrl ? { crl: rootCrlUrl } : {}).issue({
    profile: { kind: 'intermediate-ca', pathLength: 0 },
    serial: randomSerial(random),
    subject: [
      { type: 'CN', value: 'Provisio DEVELOPMENT Issuing CA' },
      { type: 'O', value: 'not for production' },
    ],
    publicKey: intermediateSigner.publicKey,
    notBefore: new Date(now.getTime() - 3600_000),
    notAfter: new Date(now.getTime() + 5 * 365 * DAY),
  });
  // The root key's last signature (decision D31): the root CRL, valid for the root's lifetime.
  const rootCrl = await signDevelopmentRootCrl(rootCert, rootSigner);
  writeFileAtomic(join(dir, ROOT_CRL_FILE), encodePem('X509 CRL', rootCrl), 0o644);
  writeFileAtomic(join(dir, 'intermediate.key'), exportPrivateKeyPem(intermediateKey.privateKey));
  writeFileAtomic(join(dir, 'intermediate.crt'), encodePem('CERTIFICATE', intermediate.der), 0o644);
  writeFileAtomic(join(dir, 'root.crt'), encodePem('CERTIFICATE', root.der), 0o644);
  writeFileAtomic(join(dir, 'DEVELOPMENT-ROOT'), 'This CA was generated by "provisio serve" for development. Its root key signed the intermediate and root.crl (valid until the root expires), then was discarded.\n', 0o644);
}

function readCa(dir: string, passphrase: string | undefined, tokenKey: TokenKey | undefined): { root: ParsedCertificate; intermediate: ParsedCertificate; signer: Signer } {
  const root = parseCertificate(readFileSync(join(dir, 'root.crt'), 'utf8'));
  const intermediate = parseCertificate(readFileSync(join(dir, 'intermediate.crt'), 'utf8'));
  if (tokenKey) {
    if (!tokenKey.publicKey.spki.equals(intermediate.publicKey.spki)) {
      throw new ServiceError('pkcs11_key_mismatch', `the key ${tokenKey.uri} is not the key of ${join(dir, 'intermediate.crt')}`);
    }
    return { root, intermediate, signer: tokenKey.signer };
  }
  const keyPem = readKeyFile(join(dir, 'intermediate.key'));
  const encrypted = keyPem.includes('ENCRYPTED PRIVATE KEY');
  const signer = createKeySigner(importPrivateKeyPem(keyPem, encrypted ? passphrase : undefined));
  if (!signer.publicKey.spki.equals(intermediate.publicKey.spki)) {
    throw new ServiceError('ca_key_mismatch', `${join(dir, 'intermediate.key')} does not belong to ${join(dir, 'intermediate.crt')}; copy the pair made by the ceremony together`);
  }
  return { root, intermediate, signer };
}

/**
 * Reuses `name`.crt/.key from `dir` unless missing or near expiry; otherwise a new key and a
 * certificate from the issuing pipeline (method 'service'), recorded in the database with its
 * audit entry before the files are written: a file never holds a certificate the database lacks.
 */
async function serviceCertificate(
  options: LoadAuthorityOptions,
  dir: string,
  name: string,
  template: ServiceTemplate,
  authority: IssuanceAuthority,
  keyType: KeyType = 'p256',
): Promise<{ signer: Signer; certificate: ParsedCertificate; keyPem: string }> {
  const now = options.clock.now();
  // A key file that is not the certificate's (a kill between writing them, or a key file left
  // from before the keys moved to a token) is replaced with a new pair.
  const existing = readKeyPair(dir, name, options.log ?? (() => {}));
  if (existing && (await reusable(options, existing.certificate, authority))) return existing;
  const key = await generateKey(keyType);
  const signer = createKeySigner(key.privateKey);
  const { issued } = await options.store.transaction((tx) =>
    issueCertificate(tx, { random: options.random, authority }, { method: serviceMethod, operation: 'sign', now, input: { template, publicKey: signer.publicKey, now } }),
  );
  const keyPem = exportPrivateKeyPem(key.privateKey);
  writeKeyPair(dir, name, keyPem, encodePem('CERTIFICATE', issued.der));
  return { signer, certificate: parseCertificate(issued.der), keyPem };
}

/**
 * Reused while far from expiry and recorded as issued by the CA in use now: a restart with
 * another --ca (or another database) must not keep a certificate nobody can answer for. Not
 * when it is dated in the future either (a clock set back): clients would refuse it.
 */
async function reusable(options: LoadAuthorityOptions, certificate: ParsedCertificate, authority: IssuanceAuthority): Promise<boolean> {
  const now = options.clock.now().getTime();
  const record = await options.store.findCertificate(authority.issuerFingerprint, certificate.serial);
  return record !== null && record.der.equals(certificate.der) && certificate.notAfter.getTime() - now > RENEW_SERVICE_BEFORE_MS && certificate.notBefore.getTime() <= now;
}

/**
 * A service certificate whose key lives in the token, under `label` (decision D44). A new key is
 * made in the token for each new certificate (one key, one identity: key policy refuses to
 * certify a key twice). `retire` destroys the replaced key; the caller runs it once nothing signs
 * with that key any more. A key whose certificate could not be issued is destroyed at once.
 */
async function tokenServiceCertificate(
  options: LoadAuthorityOptions,
  dir: string,
  name: string,
  template: ServiceTemplate,
  authority: IssuanceAuthority,
  token: Pkcs11Token,
  label: string,
): Promise<{ signer: Signer; certificate: ParsedCertificate; key: TokenKey; retire: () => Promise<void> }> {
  const certPath = join(dir, `${name}.crt`);
  const existing = token.keysLabelled(label);
  if (existsSync(certPath)) {
    const certificate = parseCertificate(readFileSync(certPath, 'utf8'));
    const key = existing.find((k) => k.publicKey.spki.equals(certificate.publicKey.spki));
    if (key && (await reusable(options, certificate, authority))) return { signer: key.signer, certificate, key, retire: async () => {} };
  }
  const key = await token.generateKey(label, 'p256', { unique: false });
  let certificate: ParsedCertificate;
  try {
    const now = options.clock.now();
    const { issued } = await options.store.transaction((tx) =>
      issueCertificate(tx, { random: options.random, authority }, { method: serviceMethod, operation: 'sign', now, input: { template, publicKey: key.publicKey, now } }),
    );
    writeFileAtomic(certPath, encodePem('CERTIFICATE', issued.der));
    // A key file from a start without the token belongs to the certificate just replaced.
    rmSync(join(dir, `${name}.key`), { force: true });
    certificate = parseCertificate(issued.der);
  } catch (e) {
    await token.destroyKey(key);
    throw e;
  }
  const retire = async () => {
    for (const old of existing) await token.destroyKey(old);
  };
  return { signer: key.signer, certificate, key, retire };
}

function openCaToken(options: LoadAuthorityOptions): { token: Pkcs11Token; caKey: TokenKey } | undefined {
  const hsm = options.caPkcs11;
  if (!hsm) return undefined;
  if (!options.caDir) throw new TypeError('the issuing CA key in a token needs --ca DIR with intermediate.crt and root.crt');
  const modulePath = hsm.modulePath ?? hsm.uri.modulePath;
  const token = Pkcs11Token.open({ token: hsm.uri.token, pin: hsm.pin, ...(modulePath ? { modulePath } : {}), ...(hsm.uri.serial ? { serial: hsm.uri.serial } : {}) });
  try {
    const caKey = token.findKey(hsm.uri.object, hsm.uri.id);
    options.log?.(`issuing CA key in the token: ${describeTokenKey(caKey)}`);
    return { token, caKey };
  } catch (e) {
    void token.close();
    throw e;
  }
}

export async function loadAuthority(options: LoadAuthorityOptions): Promise<LoadedAuthority> {
  const hsm = openCaToken(options);
  try {
    return await loadAuthorityWith(options, hsm);
  } catch (e) {
    await hsm?.token.close();
    throw e;
  }
}

async function loadAuthorityWith(options: LoadAuthorityOptions, hsm: { token: Pkcs11Token; caKey: TokenKey } | undefined): Promise<LoadedAuthority> {
  const dir = join(options.dataDir, 'ca');
  let caDir = options.caDir;
  let createdDevelopmentCa = false;
  const log = options.log ?? (() => {});
  if (!caDir) {
    caDir = dir;
    if (checkCaDirectory(dir, { mayRemake: true, log, hint: 'restore the missing files, or move the directory away to start with a new development CA' }) === 'absent') {
      await makeDevelopmentCaFiles(dir, () => createDevelopmentCa(dir, options.clock, options.random, options.rootCrlUrl));
      createdDevelopmentCa = true;
      options.log?.(`created a development root CA; its key signed the issuing CA and the root CRL ${join(dir, ROOT_CRL_FILE)} (next update at the root's end), then was discarded`);
    }
  } else {
    checkCaDirectory(caDir, {
      mayRemake: false,
      log,
      keyInToken: hsm !== undefined,
      hint: hsm ? 'copy intermediate.crt and root.crt from the ceremony (docs/ceremony.md)' : 'copy intermediate.crt, intermediate.key and root.crt from the ceremony (docs/ceremony.md)',
    });
  }
  const { root, intermediate, signer } = readCa(caDir, options.caPassphrase, hsm?.caKey);
  verifyChain({ leaf: intermediate, roots: [root], at: options.clock.now() });
  const rootCrl = openRootCrl({ caDir, root, intermediate, now: options.clock.now(), log: options.log ?? (() => {}) });
  const issuer = createIssuer(intermediate, signer, options.urls);
  const issuerFingerprint = intermediate.fingerprint;
  // The pipeline's view of the CA while the authority is being assembled (no profile signer yet).
  const issuing: IssuanceAuthority = { root, intermediate, issuerFingerprint, plan: (r) => issuer.plan(r), issue: (r) => issuer.issue(r) };

  // With the CA key in a token, the profile signer and OCSP responder keys are made there too;
  // the TLS key stays a file: Node's TLS needs the key in the process.
  type ServiceSigner = { signer: Signer; certificate: ParsedCertificate; retire: () => Promise<void> };
  const serviceSigner = async (name: 'profile-signer' | 'ocsp-responder'): Promise<ServiceSigner> => {
    if (!hsm) return { ...(await serviceCertificate(options, dir, name, { kind: name }, issuing)), retire: async () => {} };
    const loaded = await tokenServiceCertificate(options, dir, name, { kind: name }, issuing, hsm.token, serviceKeyLabel(hsm.caKey.label, name));
    options.log?.(`${name} key in the token: ${describeTokenKey(loaded.key)}`);
    return loaded;
  };
  const profileSigner = await serviceSigner('profile-signer');
  await profileSigner.retire();
  const tls = await serviceCertificate(options, dir, 'tls', { kind: 'tls-server', names: options.tlsNames }, issuing);

  // The delegated OCSP responder (RFC 6960 §4.2.2.2): its own key, so the issuing CA key signs
  // only certificates and CRLs. Short-lived (issuance/validity.ts), renewed within 30 days of
  // expiry: at start, and while running when the responder asks (ca/ocsp-responder.ts).
  // A replaced responder key in a token is destroyed only after the new responder is in place,
  // so an answer being signed meanwhile still has its key.
  const loadResponder = async (): Promise<{ responder: OcspResponder; retire: () => Promise<void> }> => {
    const loaded = await serviceSigner('ocsp-responder');
    return { responder: { certificate: loaded.certificate, signer: loaded.signer }, retire: loaded.retire };
  };
  const first = await loadResponder();
  let ocspResponder = first.responder;
  await first.retire();

  return {
    authority: {
      root,
      intermediate,
      issuerFingerprint,
      plan: issuing.plan,
      issue: issuing.issue,
      profileSigner: profileSigner.signer,
      profileSignerChain: [profileSigner.certificate.der, intermediate.der],
      signCrl: (input) => buildCrl({ issuer: intermediate, signer, ...input }),
      get ocspResponder() {
        return ocspResponder;
      },
      async renewOcspResponder() {
        const renewed = await loadResponder();
        ocspResponder = renewed.responder;
        await renewed.retire();
        return ocspResponder;
      },
      rootCrl,
      scepRa: once(async () => {
        // SCEP (RFC 8894) needs an RSA key: the requests' content keys are RSA-encrypted to it.
        // Made on the first SCEP request, not at start: RSA key generation is slow and most
        // services never speak SCEP. A file key even with an HSM CA key (D47).
        const ra = await serviceCertificate(options, dir, 'scep-ra', { kind: 'scep-ra' }, issuing, 'rsa3072');
        return { certificate: ra.certificate, privateKey: createPrivateKey(ra.keyPem) };
      }),
    },
    tls: { key: tls.keyPem, cert: encodePem('CERTIFICATE', tls.certificate.der) + encodePem('CERTIFICATE', intermediate.der) },
    rootPath: join(caDir, 'root.crt'),
    rootFingerprint: root.fingerprint,
    isDevelopmentRoot: existsSync(join(caDir, 'DEVELOPMENT-ROOT')),
    createdDevelopmentCa,
    close: async () => hsm?.token.close(),
  };
}
