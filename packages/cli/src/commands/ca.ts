/**
 * The CA ceremony: `ca init-root`, `ca new-intermediate`, `ca sign-intermediate`, `ca root-crl`
 * (docs/ceremony.md). The X.509 work is the PKI core's; this file decides file names, modes,
 * passphrases and what the person running the ceremony is shown.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import {
  checkNameAttribute,
  checkRevocationReason,
  createCsr,
  createIssuer,
  createKeySigner,
  type DistinguishedName,
  describePublicKey,
  encodePem,
  exportPrivateKeyPem,
  formatName,
  generateKey,
  importPrivateKeyPem,
  isEncryptedPrivateKeyPem,
  isRevocationReason,
  issueSelfSigned,
  type NameAttribute,
  type ParsedCertificate,
  PkiError,
  parseCertificate,
  parseCsr,
  parseSerial,
  publicKeyFingerprint,
  randomSerial,
  REVOCATION_REASONS,
  type RevocationReason,
  type SerialNumber,
  type Signer,
  verifyChain,
  verifyCsr,
} from '@provisio/pki';
import { integerFlag, isSet, keyTypeFlag, optionalString, type ParsedArgs, requireString } from '../args.js';
import { COMMON_OPTIONS, type CommandSpec, printJson } from '../command.js';
import { note, warn } from '../diagnostics.js';
import { CliError, EXIT, usageError } from '../errors.js';
import {
  assertAbsent,
  assertCanCreate,
  ensureDirectory,
  formatMode,
  PUBLIC_MODE,
  readInputFile,
  removeFiles,
  SECRET_MODE,
  writeFileAtomic,
  writeFilesAtomic,
} from '../files.js';
import { fieldLines, rfc3339, shellQuote } from '../format-text.js';
import { INIT_ROOT_HELP, NEW_INTERMEDIATE_HELP, ROOT_CRL_HELP, SHOW_KEY_HELP, SIGN_INTERMEDIATE_HELP } from '../help.js';
import { type Pkcs11Uri, Pkcs11Token, type TokenKey, parsePkcs11Uri, readPinFile } from '@provisio/server';
import { type CliDeps, styleFor } from '../io.js';
import { existingPassphrase, newPassphrase, optionalPassphrase } from '../passphrase.js';
import {
  DEFAULT_ROOT_CRL_DAYS,
  MAX_ROOT_CRL_DAYS,
  readRootCrlState,
  ROOT_CRL_FILE,
  type SignedRootCrl,
  signNextRootCrl,
  withRevoked,
} from '../root-crl.js';

export const ROOT_PASSPHRASE_ENV = 'PROVISIO_ROOT_PASSPHRASE';
export const CA_PASSPHRASE_ENV = 'PROVISIO_CA_PASSPHRASE';

/**
 * CA certificates start one hour before they are made. The offline machine has no NTP and its
 * clock drifts; the servers and devices that check the chain have their own clocks. A CA
 * certificate that is "not valid yet" on a device whose clock is a few minutes behind breaks
 * every enrollment until the clocks agree, while backdating a CA by an hour vouches for nothing
 * extra (Let's Encrypt backdates by an hour for the same reason). The issuer clips an
 * intermediate's start to the root's, so the two stay nested.
 */
export const BACKDATE_MS = 60 * 60 * 1000;

export const DEFAULT_ROOT_NAME = 'Provisio Root CA';
export const DEFAULT_INTERMEDIATE_NAME = 'Provisio Issuing CA';
/** 20 years: a root outlives many intermediates; re-distributing trust anchors to devices is costly. */
export const DEFAULT_ROOT_YEARS = 20;
/** 5 years: the intermediate key is online; rolling it every few years bounds a silent compromise. */
export const DEFAULT_INTERMEDIATE_DAYS = 1825;

/** Subject attributes copied from an intermediate's CSR; anything else is dropped and reported. */
const COPIED_ATTRIBUTES = new Set(['CN', 'O', 'OU', 'C']);

function addYears(date: Date, years: number): Date {
  const d = new Date(date);
  d.setUTCFullYear(d.getUTCFullYear() + years);
  return d;
}

function commonName(value: string): DistinguishedName {
  const attr: NameAttribute = { type: 'CN', value };
  checkNameAttribute(attr);
  return [attr];
}

function keyHint(encrypted: boolean): string {
  return encrypted ? `encrypted, mode ${formatMode(SECRET_MODE)}` : `NOT encrypted, mode ${formatMode(SECRET_MODE)}`;
}

// ---------------------------------------------------------------------------------------------
// ca init-root

async function initRoot(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const cmd = 'ca init-root';
  const outDir = requireString(args, 'out', cmd);
  const keyType = keyTypeFlag(args, cmd);
  const years = integerFlag(args, 'years', DEFAULT_ROOT_YEARS, 1, 40, cmd);
  const subject = commonName(optionalString(args, 'name') ?? DEFAULT_ROOT_NAME);
  const certPath = join(outDir, 'root.crt');
  const keyPath = join(outDir, 'root.key');
  // Refuse before asking for anything: a second init-root must never replace a root.
  assertAbsent(certPath);
  assertAbsent(keyPath);
  const passphrase = await newPassphrase(deps, ROOT_PASSPHRASE_ENV, 'the root key');

  const key = await generateKey(keyType);
  const signer = createKeySigner(key.privateKey);
  const now = deps.clock.now();
  const issued = await issueRoot(signer, deps, subject, now, years);
  const certificate = parseCertificate(issued);
  const keyPem = exportPrivateKeyPem(key.privateKey, passphrase);

  ensureDirectory(outDir);
  // The key first: a certificate without its key is useless, and writeFilesAtomic removes both
  // if either fails.
  writeFilesAtomic([
    { path: keyPath, data: keyPem, mode: SECRET_MODE },
    // The whole root directory is ceremony media: both files 0600 (the issue's rule). root.crt is
    // public, and copies of it made for distribution may be world-readable.
    { path: certPath, data: encodePem('CERTIFICATE', issued), mode: SECRET_MODE },
  ]);
  // Read the key back from disk and decrypt it: a root key that cannot be opened later is found
  // now, while the person who chose the passphrase is still at the machine.
  try {
    const reread = importPrivateKeyPem(readInputFile(keyPath).toString('utf8'), passphrase);
    if (!createKeySigner(reread).publicKey.spki.equals(certificate.publicKey.spki)) {
      throw new Error('root.key read back from disk does not match root.crt');
    }
  } catch (e) {
    // A damaged disk: leave nothing that looks like a usable root, so the ceremony starts over.
    removeFiles([keyPath, certPath]);
    throw e;
  }

  if (isSet(args, 'json')) {
    printJson(deps, {
      certificate: { path: certPath, mode: formatMode(SECRET_MODE) },
      key: { path: keyPath, mode: formatMode(SECRET_MODE), encrypted: true },
      ...certificateSummary(certificate),
    });
  } else {
    const style = styleFor(deps.stdout, deps.env);
    const tick = style.ok('✔');
    deps.stdout.write(
      [
        `${tick} Root certificate: ${certPath}`,
        `${tick} Root key: ${keyPath} (${keyHint(true)})`,
        ...certificateLines(certificate),
        '',
        'Next, on the online CA server:',
        '  provisio ca new-intermediate --out ./ca',
        'then bring only intermediate.csr to this machine and run:',
        `  provisio ca sign-intermediate --root ${shellQuote(outDir)} --csr intermediate.csr --out intermediate.crt`,
        '',
      ].join('\n'),
    );
  }
  warn(
    deps,
    `${keyPath} must stay offline: copy it only to the encrypted backup media of the ceremony (docs/ceremony.md); only root.crt leaves this machine`,
  );
  return EXIT.ok;
}

async function issueRoot(
  signer: Signer,
  deps: Pick<CliDeps, 'random'>,
  subject: DistinguishedName,
  now: Date,
  years: number,
): Promise<Buffer> {
  // No pathLength on the root: the intermediates' own pathLenConstraint limits the depth, and a
  // root constraint could never be changed without replacing the root on every device.
  const issued = await issueSelfSigned(signer, {
    serial: randomSerial(deps.random),
    subject,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: addYears(now, years),
  });
  return issued.der;
}

/** The fields shown for a certificate the ceremony just made. */
function certificateSummary(cert: ParsedCertificate) {
  return {
    subject: formatName(cert.subject),
    issuer: formatName(cert.issuer),
    serial: cert.serial,
    publicKey: { algorithm: describePublicKey(cert.publicKey), sha256: publicKeyFingerprint(cert.publicKey) },
    notBefore: rfc3339(cert.notBefore),
    notAfter: rfc3339(cert.notAfter),
    ca: cert.decoded.basicConstraints?.ca === true,
    pathLength: cert.decoded.basicConstraints?.pathLength ?? null,
    sha256: cert.fingerprint,
  };
}

function certificateLines(cert: ParsedCertificate, extra: Parameters<typeof fieldLines>[0] = []): string[] {
  return fieldLines([
    ['subject', formatName(cert.subject)],
    ['key', describePublicKey(cert.publicKey)],
    ['serial', cert.serial],
    ['valid from', rfc3339(cert.notBefore)],
    ['valid to', rfc3339(cert.notAfter)],
    ...extra,
    ['SHA-256', cert.fingerprint],
  ]);
}

// ---------------------------------------------------------------------------------------------
// ca new-intermediate

/** --pkcs11 URI --pin-file F [--pkcs11-module PATH]: a key in a PKCS#11 token (decision D44). */
function openTokenFlags(args: ParsedArgs, cmd: string): { token: Pkcs11Token; uri: Pkcs11Uri } | undefined {
  const uriText = optionalString(args, 'pkcs11');
  const pinFile = optionalString(args, 'pin-file');
  const modulePath = optionalString(args, 'pkcs11-module');
  if (uriText === undefined) {
    if (pinFile !== undefined || modulePath !== undefined) throw usageError('--pin-file and --pkcs11-module go with --pkcs11 URI', `run "provisio ${cmd} --help"`);
    return undefined;
  }
  if (pinFile === undefined) throw usageError('--pkcs11 needs --pin-file FILE: the token PIN, in a file of mode 0600', `run "provisio ${cmd} --help"`);
  const uri = parsePkcs11Uri(uriText);
  const module = modulePath ?? uri.modulePath;
  const token = Pkcs11Token.open({ token: uri.token, pin: readPinFile(pinFile), ...(module ? { modulePath: module } : {}), ...(uri.serial ? { serial: uri.serial } : {}) });
  return { token, uri };
}

function custodyText(key: TokenKey): string {
  return `in the token, ${key.sensitive ? 'sensitive' : 'NOT sensitive'}, ${key.extractable ? 'EXTRACTABLE' : 'not extractable'}`;
}

/** `ca new-intermediate --pkcs11`: the key pair is generated inside the token; only the CSR is written. */
async function newIntermediateInToken(deps: CliDeps, args: ParsedArgs, hsm: { token: Pkcs11Token; uri: Pkcs11Uri }): Promise<number> {
  const cmd = 'ca new-intermediate';
  const outDir = requireString(args, 'out', cmd);
  const keyType = keyTypeFlag(args, cmd);
  const subject = commonName(optionalString(args, 'name') ?? DEFAULT_INTERMEDIATE_NAME);
  const csrPath = join(outDir, 'intermediate.csr');
  assertAbsent(csrPath);
  if (hsm.uri.id) throw usageError('the URI for a new key names its label only (object=LABEL); the token chooses no id for you, Provisio does', `run "provisio ${cmd} --help"`);
  const key = await hsm.token.generateKey(hsm.uri.object, keyType);
  const csr = await createCsr(key.signer, { subject });
  ensureDirectory(outDir);
  writeFileAtomic(csrPath, encodePem('CERTIFICATE REQUEST', csr), PUBLIC_MODE);
  const keySha256 = publicKeyFingerprint(key.publicKey);
  if (isSet(args, 'json')) {
    printJson(deps, {
      key: { pkcs11: key.uri, extractable: key.extractable, sensitive: key.sensitive },
      csr: { path: csrPath, mode: formatMode(PUBLIC_MODE) },
      subject: formatName(subject),
      publicKey: { algorithm: describePublicKey(key.publicKey), sha256: keySha256 },
    });
  } else {
    const tick = styleFor(deps.stdout, deps.env).ok('✔');
    deps.stdout.write(
      [
        `${tick} Intermediate key: ${key.uri} (${custodyText(key)})`,
        `${tick} Certificate request: ${csrPath}`,
        ...fieldLines([
          ['subject', formatName(subject)],
          ['key', describePublicKey(key.publicKey)],
          ['key SHA-256', keySha256],
        ]),
        '',
        'Next: carry intermediate.csr to the offline root machine and run:',
        `  provisio ca sign-intermediate --root ROOT_DIR --csr intermediate.csr --out intermediate.crt`,
        'and check that it shows the same key SHA-256 as above; then start the service with',
        `  provisio serve --ca ${shellQuote(outDir)} --ca-pkcs11 ${shellQuote(key.uri)} --pin-file PIN_FILE`,
        '',
      ].join('\n'),
    );
  }
  return EXIT.ok;
}

async function newIntermediate(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const cmd = 'ca new-intermediate';
  const hsm = openTokenFlags(args, cmd);
  if (hsm) {
    try {
      return await newIntermediateInToken(deps, args, hsm);
    } finally {
      await hsm.token.close();
    }
  }
  const outDir = requireString(args, 'out', cmd);
  const keyType = keyTypeFlag(args, cmd);
  const subject = commonName(optionalString(args, 'name') ?? DEFAULT_INTERMEDIATE_NAME);
  const keyPath = join(outDir, 'intermediate.key');
  const csrPath = join(outDir, 'intermediate.csr');
  assertAbsent(keyPath);
  assertAbsent(csrPath);
  const passphrase = optionalPassphrase(deps, CA_PASSPHRASE_ENV);

  const key = await generateKey(keyType);
  const signer = createKeySigner(key.privateKey);
  const csr = await createCsr(signer, { subject });
  ensureDirectory(outDir);
  writeFilesAtomic([
    { path: keyPath, data: exportPrivateKeyPem(key.privateKey, passphrase), mode: SECRET_MODE },
    { path: csrPath, data: encodePem('CERTIFICATE REQUEST', csr), mode: PUBLIC_MODE },
  ]);

  const encrypted = passphrase !== undefined;
  const keySha256 = publicKeyFingerprint(signer.publicKey);
  if (isSet(args, 'json')) {
    printJson(deps, {
      key: { path: keyPath, mode: formatMode(SECRET_MODE), encrypted },
      csr: { path: csrPath, mode: formatMode(PUBLIC_MODE) },
      subject: formatName(subject),
      publicKey: { algorithm: describePublicKey(signer.publicKey), sha256: keySha256 },
    });
  } else {
    const tick = styleFor(deps.stdout, deps.env).ok('✔');
    deps.stdout.write(
      [
        `${tick} Intermediate key: ${keyPath} (${keyHint(encrypted)})`,
        `${tick} Certificate request: ${csrPath}`,
        ...fieldLines([
          ['subject', formatName(subject)],
          ['key', describePublicKey(signer.publicKey)],
          ['key SHA-256', keySha256],
        ]),
        '',
        'Next: carry intermediate.csr (only the .csr) to the offline root machine and run:',
        `  provisio ca sign-intermediate --root ROOT_DIR --csr intermediate.csr --out intermediate.crt`,
        'and check that it shows the same key SHA-256 as above.',
        '',
      ].join('\n'),
    );
  }
  if (!encrypted) {
    note(
      deps,
      `${keyPath} is not encrypted: the online CA must read it unattended, so it is protected by its file mode (0600) and the server's disk; set ${CA_PASSPHRASE_ENV} to encrypt it`,
    );
  }
  return EXIT.ok;
}

// ---------------------------------------------------------------------------------------------
// ca show-key

/** `ca show-key --pkcs11 URI`: what the token says of a key — its public half and its custody. */
async function showKey(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const cmd = 'ca show-key';
  const hsm = openTokenFlags(args, cmd);
  if (!hsm) throw usageError('ca show-key needs --pkcs11 URI and --pin-file FILE', `run "provisio ${cmd} --help"`);
  try {
    const key = hsm.token.findKey(hsm.uri.object, hsm.uri.id);
    const keySha256 = publicKeyFingerprint(key.publicKey);
    if (isSet(args, 'json')) {
      printJson(deps, { pkcs11: key.uri, id: key.id.toString('hex'), extractable: key.extractable, sensitive: key.sensitive, publicKey: { algorithm: describePublicKey(key.publicKey), sha256: keySha256 } });
    } else {
      deps.stdout.write(
        `${fieldLines([
          ['key', key.uri],
          ['id', key.id.toString('hex')],
          ['algorithm', describePublicKey(key.publicKey)],
          ['key SHA-256', keySha256],
          ['custody', custodyText(key)],
        ]).join('\n')}\n`,
      );
    }
    if (key.extractable || !key.sensitive) warn(deps, `${key.uri} can leave the token (CKA_EXTRACTABLE or not CKA_SENSITIVE): a CA key should be generated by "provisio ca new-intermediate --pkcs11"`);
    return EXIT.ok;
  } finally {
    await hsm.token.close();
  }
}

/** Reads ROOT_DIR/root.key, asking for its passphrase, and checks it is the key of root.crt. */
async function unlockRoot(deps: CliDeps, rootDir: string, root: ParsedCertificate): Promise<Signer> {
  const keyPem = readInputFile(join(rootDir, 'root.key')).toString('utf8');
  let signerKey: ReturnType<typeof importPrivateKeyPem>;
  if (isEncryptedPrivateKeyPem(keyPem)) {
    const passphrase = await existingPassphrase(deps, ROOT_PASSPHRASE_ENV, 'the root key');
    signerKey = importPrivateKeyPem(keyPem, passphrase);
  } else {
    warn(deps, `${join(rootDir, 'root.key')} is not encrypted; a root key should be (docs/ceremony.md)`);
    signerKey = importPrivateKeyPem(keyPem);
  }
  const signer = createKeySigner(signerKey);
  if (!signer.publicKey.spki.equals(root.publicKey.spki)) {
    throw new CliError('key_mismatch', `${join(rootDir, 'root.key')} does not belong to root.crt`);
  }
  return signer;
}

/** root.crt of a root directory, refused once expired: an expired root signs nothing. */
function readLiveRoot(rootDir: string, now: Date): ParsedCertificate {
  const root = parseCertificate(readInputFile(join(rootDir, 'root.crt')));
  if (now > root.notAfter) {
    throw new PkiError('certificate_expired', `the root certificate expired at ${rfc3339(root.notAfter)}`);
  }
  return root;
}

/**
 * A root CRL's thisUpdate: backdated like the CA certificates (BACKDATE_MS; a relying party whose
 * clock is behind would refuse a CRL "not yet valid"), never before the root's own start.
 */
function rootCrlStart(root: ParsedCertificate, now: Date): Date {
  const backdated = new Date(now.getTime() - BACKDATE_MS);
  return backdated < root.notBefore ? root.notBefore : backdated;
}

/** --next-update: whole days ("365d" or "365"), 1 to 3650, clipped to the root's end. */
function rootCrlEnd(args: ParsedArgs, root: ParsedCertificate, now: Date, cmd: string): { nextUpdate: Date; clipped: boolean } {
  const raw = optionalString(args, 'next-update');
  let days = DEFAULT_ROOT_CRL_DAYS;
  if (raw !== undefined) {
    const m = /^(\d{1,4})d?$/.exec(raw);
    days = m ? Number(m[1]) : Number.NaN;
    if (!(days >= 1 && days <= MAX_ROOT_CRL_DAYS)) {
      throw usageError(`--next-update must be whole days from 1d to ${MAX_ROOT_CRL_DAYS}d; got "${raw.slice(0, 40)}"`, `run "provisio ${cmd} --help"`);
    }
  }
  const wanted = new Date(now.getTime() + days * 86_400_000);
  // A CRL is not needed past the root's end: nothing chains to an expired root.
  return wanted > root.notAfter ? { nextUpdate: root.notAfter, clipped: true } : { nextUpdate: wanted, clipped: false };
}

/** --crl-url: the http(s) URL where relying parties fetch the root CRL (RFC 5280 §4.2.1.13). */
function crlUrlFlag(args: ParsedArgs): string | undefined {
  const raw = optionalString(args, 'crl-url');
  if (raw === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password || raw.length > 512 || !/^[\x21-\x7e]+$/.test(raw)) {
    throw usageError(
      `--crl-url must be an http:// URL such as http://ca.example:8080/crl/root.crl; got "${raw.slice(0, 80)}"`,
      'the service publishes the root CRL at PUBLISH_URL/crl/root.crl (docs/service.md)',
    );
  }
  return raw;
}

function rootCrlLines(root: ParsedCertificate, crl: SignedRootCrl, subjects: ReadonlyMap<string, string>): string[] {
  return fieldLines([
    ['issuer', formatName(root.subject)],
    ['this update', rfc3339(crl.thisUpdate)],
    ['next update', rfc3339(crl.nextUpdate)],
    ['revoked', crl.entries.map((e) => `${e.serial} ${e.reason} ${rfc3339(e.revokedAt)}${subjects.has(e.serial) ? ` (${subjects.get(e.serial)})` : ''}`)],
  ]);
}

function rootCrlJson(path: string, crl: SignedRootCrl) {
  return {
    path,
    format: 'pem',
    mode: formatMode(PUBLIC_MODE),
    crlNumber: crl.crlNumber.toString(),
    thisUpdate: rfc3339(crl.thisUpdate),
    nextUpdate: rfc3339(crl.nextUpdate),
    revoked: crl.entries.map((e) => ({ serial: e.serial, reason: e.reason, revokedAt: rfc3339(e.revokedAt) })),
  };
}

// ---------------------------------------------------------------------------------------------
// ca sign-intermediate

/**
 * The subject comes from the CSR. Elsewhere Provisio never copies names from a CSR
 * (security.md); here it may, because this is the offline ceremony: a person reads the subject
 * and key fingerprint shown below and compares them with what `new-intermediate` printed before
 * typing the root passphrase. Only CN, O, OU and C are copied; nothing else in the CSR is used.
 */
function subjectFromCsr(attributes: ReadonlyArray<{ type: string; value: string }>): {
  subject: DistinguishedName;
  dropped: string[];
} {
  const subject: NameAttribute[] = [];
  const dropped: string[] = [];
  for (const a of attributes) {
    if (COPIED_ATTRIBUTES.has(a.type)) {
      const attr = { type: a.type as NameAttribute['type'], value: a.value };
      checkNameAttribute(attr);
      subject.push(attr);
    } else {
      dropped.push(`${a.type}=${a.value}`);
    }
  }
  return { subject, dropped };
}

async function signIntermediate(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const cmd = 'ca sign-intermediate';
  const rootDir = requireString(args, 'root', cmd);
  const csrPath = requireString(args, 'csr', cmd);
  const outPath = requireString(args, 'out', cmd);
  const chainPath = optionalString(args, 'chain');
  const days = integerFlag(args, 'days', DEFAULT_INTERMEDIATE_DAYS, 1, 7300, cmd);
  const pathLength = integerFlag(args, 'path-len', 0, 0, 4, cmd);
  if (chainPath !== undefined && resolve(chainPath) === resolve(outPath)) {
    throw usageError('--chain and --out must be different files', 'run "provisio ca sign-intermediate --help"');
  }
  const crlUrl = crlUrlFlag(args);
  // The first root CRL (or a fresh one) leaves the ceremony with the intermediate: the service
  // publishes it at the URL the intermediate names (decision D31).
  const rootCrlPath = optionalString(args, 'root-crl') ?? join(dirname(outPath), ROOT_CRL_FILE);
  if ([outPath, chainPath].some((p) => p !== undefined && resolve(p) === resolve(rootCrlPath))) {
    throw usageError('--root-crl must differ from --out and --chain', 'run "provisio ca sign-intermediate --help"');
  }
  assertCanCreate(outPath);
  if (chainPath !== undefined) assertCanCreate(chainPath);
  assertCanCreate(rootCrlPath);

  const now = deps.clock.now();
  const root = readLiveRoot(rootDir, now);
  const crlState = readRootCrlState(rootDir);
  const crlEnd = rootCrlEnd(args, root, now, cmd);
  const csr = parseCsr(readInputFile(csrPath));
  verifyCsr(csr);
  const { subject, dropped } = subjectFromCsr(csr.subject.attributes);
  const keySha256 = publicKeyFingerprint(csr.publicKey);
  if (csr.publicKey.spki.equals(root.publicKey.spki)) {
    throw new CliError('key_mismatch', 'the request carries the root key itself; an intermediate needs its own key');
  }
  const notBefore = new Date(now.getTime() - BACKDATE_MS);
  const requestedEnd = new Date(now.getTime() + days * 86_400_000);

  // What will be signed, shown before the root key is unlocked.
  deps.stderr.write(
    [
      'provisio: about to sign with the root key:',
      ...fieldLines([
        ['subject', formatName(subject)],
        ['key', describePublicKey(csr.publicKey)],
        ['key SHA-256', keySha256],
        ['request', 'signature VERIFIED (proof of possession)'],
        ['profile', `intermediate CA, path length ${pathLength}, keyCertSign + cRLSign`],
        [
          'validity',
          `${rfc3339(notBefore)} to ${rfc3339(requestedEnd < root.notAfter ? requestedEnd : root.notAfter)}`,
        ],
        ['issuer', formatName(root.subject)],
        ['CRL URL', crlUrl ?? 'none (no --crl-url)'],
        ['root CRL', `number ${crlState.crlNumber + 1n}, ${crlState.revoked.length} revoked, next update ${rfc3339(crlEnd.nextUpdate)}`],
      ]),
      '',
    ].join('\n'),
  );
  if (crlUrl === undefined) {
    warn(deps, 'no --crl-url: the intermediate names no CRL distribution point, so relying parties must be given the root CRL by hand (docs/ceremony.md)');
  }
  if (dropped.length > 0) note(deps, `not copied from the request: ${dropped.join(', ')}`);
  const requested = csr.requestedExtensions;
  if (Object.keys(requested).length > 0) {
    note(deps, 'the request asks for extensions; they are ignored (the profile sets them)');
  }

  const signer = await unlockRoot(deps, rootDir, root);
  // 128-bit random serial: the offline root has no database to enforce uniqueness, and a
  // collision among 2^128 values is not a practical concern (security.md: serials).
  const issued = await createIssuer(root, signer, crlUrl === undefined ? {} : { crl: crlUrl }).issue({
    profile: { kind: 'intermediate-ca', pathLength },
    serial: randomSerial(deps.random),
    subject,
    publicKey: csr.publicKey,
    notBefore,
    notAfter: requestedEnd,
  });
  const certificate = parseCertificate(issued.der);
  // What we emit must validate with our own chain code before anyone sees it.
  verifyChain({ leaf: certificate, roots: [root], at: now });

  const certPem = encodePem('CERTIFICATE', issued.der);
  // Store before returning (security.md): the root keeps a copy of everything it signed, so the
  // intermediate can be found and revoked later even if --out is lost.
  const issuedDir = join(rootDir, 'issued');
  ensureDirectory(issuedDir);
  const recordPath = join(issuedDir, `${certificate.serial}.crt`);
  writeFileAtomic(recordPath, certPem, PUBLIC_MODE);
  const rootCrl = await signNextRootCrl({ rootDir, root, signer, state: crlState, thisUpdate: rootCrlStart(root, now), nextUpdate: crlEnd.nextUpdate });
  const outputs = [{ path: outPath, data: certPem, mode: PUBLIC_MODE }];
  if (chainPath !== undefined) {
    outputs.push({ path: chainPath, data: certPem + encodePem('CERTIFICATE', root.der), mode: PUBLIC_MODE });
  }
  outputs.push({ path: rootCrlPath, data: encodePem('X509 CRL', rootCrl.der), mode: PUBLIC_MODE });
  writeFilesAtomic(outputs);

  const clipped = root.notAfter < requestedEnd;
  if (isSet(args, 'json')) {
    printJson(deps, {
      certificate: { path: outPath, mode: formatMode(PUBLIC_MODE) },
      chain: chainPath === undefined ? null : { path: chainPath, mode: formatMode(PUBLIC_MODE) },
      record: { path: recordPath },
      rootCrl: rootCrlJson(rootCrlPath, rootCrl),
      crlUrl: crlUrl ?? null,
      ...certificateSummary(certificate),
      clippedToRoot: clipped,
    });
  } else {
    const tick = styleFor(deps.stdout, deps.env).ok('✔');
    deps.stdout.write(
      [
        `${tick} Intermediate certificate: ${outPath}`,
        ...(chainPath === undefined ? [] : [`${tick} Chain (intermediate, root): ${chainPath}`]),
        `${tick} Recorded: ${recordPath}`,
        `${tick} Root CRL number ${rootCrl.crlNumber}: ${rootCrlPath} (PEM, ${rootCrl.entries.length} revoked, next update ${rfc3339(rootCrl.nextUpdate)})`,
        ...certificateLines(certificate, [
          ['issuer', formatName(certificate.issuer)],
          ['CA', `yes, path length ${pathLength}`],
          ['key SHA-256', keySha256],
          ['CRL URL', crlUrl ?? null],
        ]),
        '',
        `Next: carry the certificate and ${ROOT_CRL_FILE} (not root.key) back to the online CA, put both in its CA`,
        `directory (${ROOT_CRL_FILE} is published at /crl/root.crl) and check the certificate there:`,
        `  provisio inspect ${shellQuote(outPath)} --ca root.crt`,
        '',
      ].join('\n'),
    );
  }
  if (clipped) note(deps, `validity clipped to the root's end, ${rfc3339(root.notAfter)}`);
  if (crlEnd.clipped) note(deps, `root CRL next update clipped to the root's end, ${rfc3339(root.notAfter)}`);
  return EXIT.ok;
}

// ---------------------------------------------------------------------------------------------
// ca root-crl

/** The issued/SERIAL.crt record of what --revoke names: a serial, or a certificate file. */
function recordedCertificate(rootDir: string, value: string): ParsedCertificate {
  const issuedDir = join(rootDir, 'issued');
  let serial: SerialNumber;
  let given: ParsedCertificate | undefined;
  if (existsSync(value)) {
    given = parseCertificate(readInputFile(value));
    serial = given.serial;
  } else {
    try {
      serial = parseSerial(value);
    } catch {
      throw usageError(`--revoke takes a serial (hex) or a certificate file; "${value.slice(0, 80)}" is neither`, 'run "provisio ca root-crl --help"');
    }
  }
  const recordPath = join(issuedDir, `${serial}.crt`);
  if (!existsSync(recordPath)) {
    throw new CliError(
      'ca_serial_unknown',
      `serial ${serial} is not recorded in ${issuedDir}: the root revokes only certificates it signed and recorded`,
      `check the serial in the ceremony record; the root's certificates are in ${issuedDir}`,
    );
  }
  const record = parseCertificate(readInputFile(recordPath));
  if (given && !given.der.equals(record.der)) {
    throw new CliError('ca_serial_unknown', `${value} is not the certificate recorded as ${recordPath}`);
  }
  return record;
}

async function rootCrl(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const cmd = 'ca root-crl';
  const rootDir = requireString(args, 'root', cmd);
  const outPath = requireString(args, 'out', cmd);
  const revokeValue = optionalString(args, 'revoke');
  const reasonValue = optionalString(args, 'reason');
  if (revokeValue !== undefined && reasonValue === undefined) {
    throw usageError('--revoke needs --reason (cACompromise, keyCompromise, superseded, cessationOfOperation, ...)', 'run "provisio ca root-crl --help"');
  }
  if (revokeValue === undefined && reasonValue !== undefined) {
    throw usageError('--reason is given without --revoke', 'run "provisio ca root-crl --help"');
  }
  let reason: RevocationReason | undefined;
  if (reasonValue !== undefined) {
    if (!isRevocationReason(reasonValue)) {
      throw new PkiError('revocation_reason_invalid', `revocation reason "${reasonValue.slice(0, 40)}" is not one of ${REVOCATION_REASONS.join(', ')}`);
    }
    checkRevocationReason(reasonValue);
    reason = reasonValue;
  }
  assertCanCreate(outPath);
  const now = deps.clock.now();
  const root = readLiveRoot(rootDir, now);
  let state = readRootCrlState(rootDir);
  const end = rootCrlEnd(args, root, now, cmd);
  const revoking = revokeValue === undefined ? undefined : recordedCertificate(rootDir, revokeValue);
  let added = false;
  if (revoking && reason) {
    // Whole seconds: the state file says what the CRL encodes (RFC 5280 §5.1.2.4).
    const revokedAt = new Date(Math.floor(now.getTime() / 1000) * 1000);
    ({ state, added } = withRevoked(state, { serial: revoking.serial, revokedAt, reason }));
  }
  // Subjects of the listed intermediates, for the people checking the list.
  const subjects = new Map<string, string>();
  for (const e of state.revoked) {
    const path = join(rootDir, 'issued', `${e.serial}.crt`);
    if (existsSync(path)) subjects.set(e.serial, formatName(parseCertificate(readInputFile(path)).subject));
  }

  deps.stderr.write(
    [
      'provisio: about to sign a root CRL with the root key:',
      ...fieldLines([
        ['issuer', formatName(root.subject)],
        ['CRL number', (state.crlNumber + 1n).toString()],
        ['revoke now', revoking ? `${revoking.serial} ${formatName(revoking.subject)} (${reason})${added ? '' : ' — listed already, kept as it was'}` : null],
        ['lists', `${state.revoked.length} revoked`],
        ['next update', rfc3339(end.nextUpdate)],
      ]),
      '',
    ].join('\n'),
  );
  const signer = await unlockRoot(deps, rootDir, root);
  const crl = await signNextRootCrl({ rootDir, root, signer, state, thisUpdate: rootCrlStart(root, now), nextUpdate: end.nextUpdate });
  writeFileAtomic(outPath, encodePem('X509 CRL', crl.der), PUBLIC_MODE);

  if (isSet(args, 'json')) {
    printJson(deps, { crl: rootCrlJson(outPath, crl), revokedNow: revoking && added ? revoking.serial : null });
  } else {
    const tick = styleFor(deps.stdout, deps.env).ok('✔');
    deps.stdout.write(
      [
        `${tick} Root CRL number ${crl.crlNumber}: ${outPath} (PEM, ${crl.entries.length} revoked)`,
        ...rootCrlLines(root, crl, subjects),
        '',
        `Next: carry ${shellQuote(outPath)} to the online CA server and put it in its CA directory as ${ROOT_CRL_FILE}`,
        `(the service publishes it at /crl/root.crl); sign a new one before ${rfc3339(crl.nextUpdate)}.`,
        '',
      ].join('\n'),
    );
  }
  if (revoking && !added) note(deps, `${revoking.serial} was listed already; its first revocation time and reason are kept`);
  if (end.clipped) note(deps, `next update clipped to the root's end, ${rfc3339(root.notAfter)}`);
  return EXIT.ok;
}

// ---------------------------------------------------------------------------------------------

const KEY_OPTIONS = {
  'out': { type: 'string' },
  'name': { type: 'string' },
  'key-type': { type: 'string' },
} as const;

const PKCS11_OPTIONS = {
  'pkcs11': { type: 'string' },
  'pin-file': { type: 'string' },
  'pkcs11-module': { type: 'string' },
} as const;

function command(path: string, help: string, options: CommandSpec['options'], run: CommandSpec['run']): CommandSpec {
  return { path, help, options: { ...COMMON_OPTIONS, ...options }, maxPositionals: 0, run };
}

export const CA_COMMANDS: readonly CommandSpec[] = [
  command('ca init-root', INIT_ROOT_HELP, { ...KEY_OPTIONS, years: { type: 'string' } }, initRoot),
  command('ca new-intermediate', NEW_INTERMEDIATE_HELP, { ...KEY_OPTIONS, ...PKCS11_OPTIONS }, newIntermediate),
  command('ca show-key', SHOW_KEY_HELP, PKCS11_OPTIONS, showKey),
  command(
    'ca sign-intermediate',
    SIGN_INTERMEDIATE_HELP,
    {
      'root': { type: 'string' },
      'csr': { type: 'string' },
      'out': { type: 'string' },
      'chain': { type: 'string' },
      'days': { type: 'string' },
      'path-len': { type: 'string' },
      'crl-url': { type: 'string' },
      'root-crl': { type: 'string' },
      'next-update': { type: 'string' },
    },
    signIntermediate,
  ),
  command(
    'ca root-crl',
    ROOT_CRL_HELP,
    {
      'root': { type: 'string' },
      'out': { type: 'string' },
      'revoke': { type: 'string' },
      'reason': { type: 'string' },
      'next-update': { type: 'string' },
    },
    rootCrl,
  ),
];
