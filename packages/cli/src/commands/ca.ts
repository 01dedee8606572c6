/**
 * The CA ceremony: `ca init-root`, `ca new-intermediate`, `ca sign-intermediate`
 * (docs/ceremony.md). The X.509 work is the PKI core's; this file decides file names, modes,
 * passphrases and what the person running the ceremony is shown.
 */
import { join, resolve } from 'node:path';
import {
  checkNameAttribute,
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
  issueSelfSigned,
  type NameAttribute,
  type ParsedCertificate,
  PkiError,
  parseCertificate,
  parseCsr,
  publicKeyFingerprint,
  randomSerial,
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
import { INIT_ROOT_HELP, NEW_INTERMEDIATE_HELP, SIGN_INTERMEDIATE_HELP } from '../help.js';
import { type CliDeps, styleFor } from '../io.js';
import { existingPassphrase, newPassphrase, optionalPassphrase } from '../passphrase.js';

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

async function newIntermediate(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const cmd = 'ca new-intermediate';
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
  assertCanCreate(outPath);
  if (chainPath !== undefined) assertCanCreate(chainPath);

  const now = deps.clock.now();
  const root = parseCertificate(readInputFile(join(rootDir, 'root.crt')));
  if (now > root.notAfter) {
    throw new PkiError('certificate_expired', `the root certificate expired at ${rfc3339(root.notAfter)}`);
  }
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
      ]),
      '',
    ].join('\n'),
  );
  if (dropped.length > 0) note(deps, `not copied from the request: ${dropped.join(', ')}`);
  const requested = csr.requestedExtensions;
  if (Object.keys(requested).length > 0) {
    note(deps, 'the request asks for extensions; they are ignored (the profile sets them)');
  }

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
  // 128-bit random serial: the offline root has no database to enforce uniqueness, and a
  // collision among 2^128 values is not a practical concern (security.md: serials).
  const issued = await createIssuer(root, signer).issue({
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
  const outputs = [{ path: outPath, data: certPem, mode: PUBLIC_MODE }];
  if (chainPath !== undefined) {
    outputs.push({ path: chainPath, data: certPem + encodePem('CERTIFICATE', root.der), mode: PUBLIC_MODE });
  }
  writeFilesAtomic(outputs);

  const clipped = root.notAfter < requestedEnd;
  if (isSet(args, 'json')) {
    printJson(deps, {
      certificate: { path: outPath, mode: formatMode(PUBLIC_MODE) },
      chain: chainPath === undefined ? null : { path: chainPath, mode: formatMode(PUBLIC_MODE) },
      record: { path: recordPath },
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
        ...certificateLines(certificate, [
          ['issuer', formatName(certificate.issuer)],
          ['CA', `yes, path length ${pathLength}`],
          ['key SHA-256', keySha256],
        ]),
        '',
        'Next: carry the certificate (not root.key) back to the online CA and check it there:',
        `  provisio inspect ${shellQuote(outPath)} --ca root.crt`,
        '',
      ].join('\n'),
    );
  }
  if (clipped) note(deps, `validity clipped to the root's end, ${rfc3339(root.notAfter)}`);
  return EXIT.ok;
}

// ---------------------------------------------------------------------------------------------

const KEY_OPTIONS = {
  'out': { type: 'string' },
  'name': { type: 'string' },
  'key-type': { type: 'string' },
} as const;

function command(path: string, help: string, options: CommandSpec['options'], run: CommandSpec['run']): CommandSpec {
  return { path, help, options: { ...COMMON_OPTIONS, ...options }, maxPositionals: 0, run };
}

export const CA_COMMANDS: readonly CommandSpec[] = [
  command('ca init-root', INIT_ROOT_HELP, { ...KEY_OPTIONS, years: { type: 'string' } }, initRoot),
  command('ca new-intermediate', NEW_INTERMEDIATE_HELP, KEY_OPTIONS, newIntermediate),
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
    },
    signIntermediate,
  ),
];
