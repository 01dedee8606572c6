/**
 * The root's CRL (docs/ceremony.md "The root's CRL", decision D31): the offline root lists the
 * intermediates it revoked, so a relying party that checks the whole chain (openssl
 * -crl_check_all, nginx ssl_crl) can tell a good issuing CA from a revoked one.
 *
 * The root has no database. Its CRL number and the revoked intermediates live in
 * ROOT_DIR/root-crl.json beside root.key, and the new state is written before the CRL leaves the
 * machine: a CRL number is never signed twice, even when writing the CRL fails afterwards
 * (RFC 5280 §5.2.3: numbers only increase).
 */
import { join } from 'node:path';
import {
  buildCrl,
  checkRevocationReason,
  isRevocationReason,
  MAX_CRL_NUMBER,
  type ParsedCertificate,
  type RevokedEntry,
  type SerialNumber,
  type Signer,
} from '@provisio/pki';
import { CliError } from './errors.js';
import { readInputFile, replaceFileAtomic, SECRET_MODE } from './files.js';

export const ROOT_CRL_STATE_FILE = 'root-crl.json';
/** The name the online CA directory and the service expect (docs/service.md "Root CRL"). */
export const ROOT_CRL_FILE = 'root.crl';
/**
 * 365 days: the root CRL is re-signed at the yearly ceremony (the backup check), so a year is
 * the longest a revoked intermediate could go unlisted only if the root itself is not used; a
 * revocation signs a new CRL at once.
 */
export const DEFAULT_ROOT_CRL_DAYS = 365;
export const MAX_ROOT_CRL_DAYS = 3650;

export interface RootCrlState {
  /** The number of the newest root CRL signed; 0 before the first. */
  readonly crlNumber: bigint;
  readonly revoked: readonly RevokedEntry[];
}

function stateInvalid(path: string, why: string): CliError {
  return new CliError(
    'ca_state_invalid',
    `${path} is not the root CRL state provisio writes: ${why}`,
    'restore the root directory from its backup (docs/ceremony.md "Back up the root")',
  );
}

/** Reads ROOT_DIR/root-crl.json; a root that never signed a CRL has number 0 and no entries. */
export function readRootCrlState(rootDir: string): RootCrlState {
  const path = join(rootDir, ROOT_CRL_STATE_FILE);
  let text: string;
  try {
    text = readInputFile(path, 1024 * 1024).toString('utf8');
  } catch (e) {
    if (e instanceof CliError && e.code === 'file_not_found' && e.message.endsWith('does not exist')) {
      return { crlNumber: 0n, revoked: [] };
    }
    throw e;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw stateInvalid(path, 'not JSON');
  }
  const v = value as { v?: unknown; crlNumber?: unknown; revoked?: unknown };
  if (typeof value !== 'object' || value === null || v.v !== 1) throw stateInvalid(path, 'not version 1');
  if (typeof v.crlNumber !== 'string' || !/^\d{1,49}$/.test(v.crlNumber) || BigInt(v.crlNumber) > MAX_CRL_NUMBER) {
    throw stateInvalid(path, 'crlNumber is not a decimal CRL number');
  }
  if (!Array.isArray(v.revoked)) throw stateInvalid(path, 'revoked is not a list');
  const seen = new Set<string>();
  const revoked = v.revoked.map((item: unknown): RevokedEntry => {
    const e = item as { serial?: unknown; revokedAt?: unknown; reason?: unknown };
    if (typeof e?.serial !== 'string' || !/^(?:[0-9a-f]{2}){1,20}$/.test(e.serial) || e.serial.startsWith('00') || seen.has(e.serial)) {
      throw stateInvalid(path, 'an entry has no canonical serial, or a serial is listed twice');
    }
    seen.add(e.serial);
    const revokedAt = typeof e.revokedAt === 'string' ? new Date(e.revokedAt) : new Date(Number.NaN);
    if (Number.isNaN(revokedAt.getTime())) throw stateInvalid(path, `entry ${e.serial} has no revokedAt time`);
    if (typeof e.reason !== 'string' || !isRevocationReason(e.reason)) throw stateInvalid(path, `entry ${e.serial} has no CRL reason`);
    return { serial: e.serial as SerialNumber, revokedAt, reason: e.reason };
  });
  return { crlNumber: BigInt(v.crlNumber), revoked };
}

function writeRootCrlState(rootDir: string, state: RootCrlState): void {
  const body = {
    v: 1,
    crlNumber: state.crlNumber.toString(),
    revoked: state.revoked.map((e) => ({ serial: e.serial, revokedAt: e.revokedAt.toISOString(), reason: e.reason })),
  };
  // 0600 like everything on the root media (ceremony.md): the list is public, the medium is not.
  replaceFileAtomic(join(rootDir, ROOT_CRL_STATE_FILE), `${JSON.stringify(body, null, 2)}\n`, SECRET_MODE);
}

/** Adds `entry` unless its serial is listed already (the first revocation's time and reason stay). */
export function withRevoked(state: RootCrlState, entry: RevokedEntry): { state: RootCrlState; added: boolean } {
  checkRevocationReason(entry.reason);
  if (state.revoked.some((e) => e.serial === entry.serial)) return { state, added: false };
  return { state: { crlNumber: state.crlNumber, revoked: [...state.revoked, entry] }, added: true };
}

export interface SignedRootCrl {
  readonly der: Buffer;
  readonly crlNumber: bigint;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly entries: readonly RevokedEntry[];
}

/**
 * Signs the next root CRL over `state.revoked` and records its number (and the list) in the root
 * directory before returning, so the caller writes the CRL out only once the number is spent.
 */
export async function signNextRootCrl(input: {
  readonly rootDir: string;
  readonly root: ParsedCertificate;
  readonly signer: Signer;
  readonly state: RootCrlState;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
}): Promise<SignedRootCrl> {
  const crlNumber = input.state.crlNumber + 1n;
  const der = await buildCrl({
    issuer: input.root,
    signer: input.signer,
    crlNumber,
    thisUpdate: input.thisUpdate,
    nextUpdate: input.nextUpdate,
    entries: input.state.revoked,
  });
  writeRootCrlState(input.rootDir, { crlNumber, revoked: input.state.revoked });
  return { der, crlNumber, thisUpdate: input.thisUpdate, nextUpdate: input.nextUpdate, entries: input.state.revoked };
}
