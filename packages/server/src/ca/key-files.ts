/**
 * The key and certificate files of the service's CA directory, read and written so that no
 * interruption stops the next start (docs/service.md "Files and faults"):
 *
 * - A private key readable by group or others is refused (`key_file_exposed`): it may have been
 *   copied already, and starting would hide that. The fix is named: chmod 600.
 * - A key and certificate pair is written key first, certificate last, each atomically; a kill
 *   in between leaves a new key beside the old certificate, which the next start notices (the
 *   key does not match) and replaces with a fresh pair, saying so.
 * - The development CA is made under a marker file written first and removed last: a marker
 *   left behind means an interrupted first start, and the half-made CA is removed and made again.
 *   A CA directory missing files without a marker is not ours to remake: refused (`ca_incomplete`).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type ParsedCertificate, type Signer, createKeySigner, importPrivateKeyPem, parseCertificate } from '@provisio/pki';
import { ServiceError } from '../domain/errors.js';
import { removeFileDurably, writeFileAtomic } from '../files.js';
import { ROOT_CRL_FILE } from './root-crl.js';

/** Present while the development CA is being made (written first, removed last). */
export const DEV_CA_MARKER = 'DEVELOPMENT-CA-INCOMPLETE';
/** The files of an issuing CA directory, from the ceremony or made for development. */
export const CA_FILES = ['intermediate.key', 'intermediate.crt', 'root.crt'] as const;
/** Everything a development CA directory holds that a remake replaces. */
const DEV_CA_FILES = [...CA_FILES, ROOT_CRL_FILE, 'DEVELOPMENT-ROOT'];

/** Refuses a private key file that group or others may read or write. */
export function assertKeyFilePrivate(path: string): void {
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new ServiceError('key_file_exposed', `${path} is readable by group or others (mode ${mode.toString(8).padStart(4, '0')}); a private key must be 0600: run "chmod 600 ${path}" (and consider the key compromised if others could read it)`);
  }
}

/** Reads a private key file after checking its mode. */
export function readKeyFile(path: string): string {
  assertKeyFilePrivate(path);
  return readFileSync(path, 'utf8');
}

export interface KeyPair {
  readonly certificate: ParsedCertificate;
  readonly keyPem: string;
  readonly signer: Signer;
}

/**
 * `name`.crt and `name`.key from `dir`; null when either is missing, or when the key does not
 * belong to the certificate (an interrupted write: `log` says so, and the caller makes a new pair).
 */
export function readKeyPair(dir: string, name: string, log: (line: string) => void): KeyPair | null {
  const certPath = join(dir, `${name}.crt`);
  const keyPath = join(dir, `${name}.key`);
  if (!existsSync(certPath) || !existsSync(keyPath)) return null;
  const keyPem = readKeyFile(keyPath);
  const certificate = parseCertificate(readFileSync(certPath, 'utf8'));
  const signer = createKeySigner(importPrivateKeyPem(keyPem));
  if (!signer.publicKey.spki.equals(certificate.publicKey.spki)) {
    log(`${keyPath} does not belong to ${certPath} (an earlier start was interrupted while writing them); making a new pair`);
    return null;
  }
  return { certificate, keyPem, signer };
}

/** Writes a pair: key first, certificate last (see the module comment for why this order). */
export function writeKeyPair(dir: string, name: string, keyPem: string, certPem: string): void {
  writeFileAtomic(join(dir, `${name}.key`), keyPem);
  writeFileAtomic(join(dir, `${name}.crt`), certPem);
}

/**
 * What the CA directory at `dir` holds: `complete`, `absent` (nothing yet: make the development
 * CA), or after an interrupted development CA (marker present) the half-made files removed and
 * `absent` again. Missing files without the marker are refused.
 */
export function checkCaDirectory(
  dir: string,
  options: { readonly mayRemake: boolean; readonly log: (line: string) => void; readonly hint: string; readonly keyInToken?: boolean },
): 'complete' | 'absent' {
  if (options.mayRemake && existsSync(join(dir, DEV_CA_MARKER))) {
    for (const file of DEV_CA_FILES) removeFileDurably(join(dir, file));
    removeFileDurably(join(dir, DEV_CA_MARKER));
    options.log(`an earlier first start was interrupted while making the development CA in ${dir}; removed it and making it again`);
    return 'absent';
  }
  // With the issuing CA key in a PKCS#11 token there is no key file to expect.
  const expected = options.keyInToken ? CA_FILES.filter((f) => f !== 'intermediate.key') : CA_FILES;
  const missing = expected.filter((file) => !existsSync(join(dir, file)));
  if (missing.length === 0) return 'complete';
  if (options.mayRemake && missing.length === expected.length) return 'absent';
  throw new ServiceError('ca_incomplete', `the CA directory ${dir} lacks ${missing.join(', ')} (it has ${expected.filter((f) => !missing.includes(f)).join(', ') || 'none of the CA files'}); ${options.hint}`);
}

/** Runs `make` (which writes the CA files) between writing and removing the marker. */
export async function makeDevelopmentCaFiles(dir: string, make: () => Promise<void>): Promise<void> {
  writeFileAtomic(join(dir, DEV_CA_MARKER), 'provisio serve is making the development CA here; if this file stays, the next start removes this CA and makes it again\n', 0o644);
  await make();
  // Durably: a marker that came back after a power loss would remove a CA already in use.
  removeFileDurably(join(dir, DEV_CA_MARKER));
}
