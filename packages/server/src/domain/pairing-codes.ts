/**
 * Pairing codes, the hospital workflow of seed 003 (docs/service.md "Pairing codes", D39). A PKI
 * admin pre-registers a device (id, label, system, component) with a code like `ABCD-1234`; the
 * device, booting without a certificate, proves it was the one registered with the code, sends a
 * CSR, and gets the seed's signed provisioning payload.
 *
 * The code: 8 characters from a 32-letter alphabet without look-alikes (no 0 O 1 I), from the
 * CSPRNG: exactly 40 bits. Printed once; kept only as a scrypt hash with its own salt (N=2^15,
 * r=8: ~32 MiB and tens of milliseconds per try), because 40 bits behind a fast hash would fall
 * to an offline search of a stolen database in seconds. Online guessing is held by the count of
 * wrong codes per device, kept in the database (so a restart does not reset it): at
 * PAIRING_MAX_FAILURES the record locks until an admin resets it.
 *
 * One answer for a wrong code, an unknown device and a locked record (`pairing_code_invalid`,
 * the same body), and the same work: scrypt runs for every attempt (against a dummy hash when
 * there is no record), and every such refusal is answered no sooner than REFUSAL_FLOOR_MS after
 * the attempt began, so the count's database write does not show either. Only a caller holding
 * the right code learns that it expired, was used or revoked.
 */
import { createHash } from 'node:crypto';
import {
  checkNameAttribute,
  createCsr,
  createKeySigner,
  deviceSubjectAltName,
  encodePem,
  exportPrivateKeyPem,
  generateKey,
  type KeyType,
  type ParsedCsr,
  parseCsr,
  parseDeviceId,
  verifyCsr,
} from '@provisio/pki';
import {
  type PairingPayload,
  type PairingPayloadFields,
  derivePairingHmacKey,
  maskPairingCode,
  normalizePairingCode,
  signPairingPayload,
  signPairingPayloadHmac,
} from '@provisio/protocol';
import { type Actor, type ServiceDeps, actorName } from './deps.js';
import { ServiceError } from './errors.js';
import type { ComponentRecord, DeviceIdText, PairingCodeRecord, RequestRecord, SystemRecord } from './model.js';
import { enrollWithSecret } from './secret-enrollment.js';
import { requireComponent, requireSystem } from './systems.js';
import { hashPassword, verifyPassword } from './users.js';

/** 32 characters: A–Z without I and O, 2–9 (no 0 or 1). 8 of them = 40 bits. */
export const PAIRING_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
export const PAIRING_MAX_FAILURES = 5;
export const DEFAULT_PAIRING_LIFETIME_SECONDS = 72 * 3600;
export const MAX_PAIRING_LIFETIME_SECONDS = 30 * 24 * 3600;
/** How long a payload is valid after it was signed: enough for a slow device to install it. */
export const PAIRING_PAYLOAD_LIFETIME_MS = 15 * 60_000;
/** Every uniform refusal is answered no sooner than this after the attempt began. */
export const REFUSAL_FLOOR_MS = 300;

export type PairingState = 'active' | 'used' | 'expired' | 'revoked' | 'locked';

export function pairingState(record: PairingCodeRecord, now: Date): PairingState {
  if (record.revokedAt) return 'revoked';
  if (record.usedAt) return 'used';
  if (record.lockedAt) return 'locked';
  if (now >= record.expiresAt) return 'expired';
  return 'active';
}

/** A fresh code, e.g. "K7QM-2XWD": 5 random bytes = 40 bits = 8 characters of 5 bits. */
export function newPairingCode(random: { bytes(n: number): Uint8Array }): string {
  const bytes = Buffer.from(random.bytes(5));
  let bits = 0n;
  for (const b of bytes) bits = (bits << 8n) | BigInt(b);
  let out = '';
  for (let i = 7; i >= 0; i--) out += PAIRING_ALPHABET[Number((bits >> BigInt(i * 5)) & 31n)];
  return `${out.slice(0, 4)}-${out.slice(4)}`;
}

function refused(): ServiceError {
  return new ServiceError(
    'pairing_code_invalid',
    'the device id and pairing code do not match an open pairing; check both (after 5 wrong codes a pairing is locked until an administrator resets it)',
  );
}

let dummyHash: Promise<string> | null = null;
/** A hash no code matches, made once: what scrypt runs against when the device has no record. */
function dummy(deps: Pick<ServiceDeps, 'random'>): Promise<string> {
  dummyHash ??= hashPassword(deps.random, Buffer.from(deps.random.bytes(16)).toString('hex'));
  return dummyHash;
}

async function notBefore(startMs: number): Promise<void> {
  const wait = REFUSAL_FLOOR_MS - (performance.now() - startMs);
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

export interface CreatePairingInput {
  readonly system: string;
  readonly component: string;
  readonly deviceId: string;
  readonly deviceLabel: string;
  readonly expiresInSeconds?: number;
}

export async function createPairingCode(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'random'>,
  actor: Actor,
  input: CreatePairingInput,
): Promise<{ code: string; record: PairingCodeRecord; system: SystemRecord; component: ComponentRecord }> {
  const deviceId = parseDeviceId(input.deviceId) as string as DeviceIdText;
  checkNameAttribute({ type: 'description', value: input.deviceLabel });
  const lifetime = input.expiresInSeconds ?? DEFAULT_PAIRING_LIFETIME_SECONDS;
  if (!Number.isInteger(lifetime) || lifetime < 60 || lifetime > MAX_PAIRING_LIFETIME_SECONDS) {
    throw new ServiceError('validation_failed', `a pairing code lives 60 s to ${MAX_PAIRING_LIFETIME_SECONDS / 86400} days; got ${lifetime} s`);
  }
  const system = await requireSystem(deps, input.system);
  const component = await requireComponent(deps, system, input.component);
  const now = deps.clock.now();
  const existing = await deps.store.findPairingCode(deviceId);
  if (existing && pairingState(existing, now) === 'active') {
    throw new ServiceError('pairing_exists', `device ${deviceId} already has an open pairing code (until ${existing.expiresAt.toISOString()}); revoke it first ("provisio pairing revoke --id ${deviceId}")`);
  }
  const device = await deps.store.findDevice(deviceId);
  if (device && device.state !== 'rejected' && device.state !== 'revoked') {
    throw new ServiceError('device_exists', `device "${deviceId}" already exists (state ${device.state}); a pairing code registers a new device`);
  }
  const code = newPairingCode(deps.random);
  const record: PairingCodeRecord = {
    deviceId,
    systemId: system.id,
    componentId: component.id,
    deviceLabel: input.deviceLabel,
    codeHash: await hashPassword(deps.random, normalizePairingCode(code)),
    failedAttempts: 0,
    lockedAt: null,
    expiresAt: new Date(now.getTime() + lifetime * 1000),
    createdAt: now,
    createdBy: actor.userId,
    revokedAt: null,
    usedAt: null,
    usedRequestId: null,
    usedCsrSha256: null,
  };
  await deps.store.transaction(async (tx) => {
    await tx.savePairingCode(record, { replace: existing !== null });
    await tx.appendAudit({
      at: now,
      actor: actorName(actor),
      action: 'pairing.create',
      targetType: 'pairing',
      targetId: deviceId,
      details: {
        system: system.name,
        component: component.name,
        deviceLabel: input.deviceLabel,
        expiresAt: record.expiresAt.toISOString(),
        ...(existing ? { replaced: pairingState(existing, now) } : {}),
      },
    });
  });
  return { code, record, system, component };
}

export async function listPairingCodes(deps: Pick<ServiceDeps, 'store'>, filter: { system?: string }): Promise<PairingCodeRecord[]> {
  const system = filter.system === undefined ? undefined : await requireSystem(deps, filter.system);
  return deps.store.listPairingCodes(system ? { systemId: system.id } : {});
}

async function requirePairing(deps: Pick<ServiceDeps, 'store'>, deviceId: string): Promise<PairingCodeRecord> {
  const record = await deps.store.findPairingCode(deviceId as DeviceIdText);
  if (!record) throw new ServiceError('pairing_not_found', `device ${deviceId} has no pairing code; list them with "provisio pairing list"`);
  return record;
}

export async function revokePairingCode(deps: Pick<ServiceDeps, 'store' | 'clock'>, actor: Actor, deviceId: string): Promise<PairingCodeRecord> {
  const record = await requirePairing(deps, deviceId);
  if (record.revokedAt) return record;
  const now = deps.clock.now();
  await deps.store.transaction(async (tx) => {
    if (!(await tx.revokePairingCode(record.deviceId, now))) return;
    await tx.appendAudit({ at: now, actor: actorName(actor), action: 'pairing.revoke', targetType: 'pairing', targetId: record.deviceId, details: { state: pairingState(record, now) } });
  });
  return requirePairing(deps, deviceId);
}

/** An admin clears the count of wrong codes and the lock (the code itself stays as it was). */
export async function resetPairingCode(deps: Pick<ServiceDeps, 'store' | 'clock'>, actor: Actor, deviceId: string): Promise<PairingCodeRecord> {
  const record = await requirePairing(deps, deviceId);
  const now = deps.clock.now();
  await deps.store.transaction(async (tx) => {
    await tx.resetPairingCode(record.deviceId);
    await tx.appendAudit({
      at: now, actor: actorName(actor), action: 'pairing.reset', targetType: 'pairing', targetId: record.deviceId,
      details: { failedAttempts: record.failedAttempts, wasLocked: record.lockedAt !== null },
    });
  });
  return requirePairing(deps, deviceId);
}

/**
 * Checks `code` for `deviceId`: scrypt always runs; a wrong code on a record that is not locked
 * is counted (and locks it at the fifth, audited), in its own transaction, since the refusal
 * must stick. Wrong, unknown and locked answer the same `pairing_code_invalid`, no sooner than
 * REFUSAL_FLOOR_MS after the start. Returns the record for the right code, whatever its state.
 */
export async function checkPairingCode(deps: Pick<ServiceDeps, 'store' | 'clock' | 'random'>, input: { deviceId: string; code: string }): Promise<PairingCodeRecord> {
  const started = performance.now();
  const code = normalizePairingCode(input.code);
  const record = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/.test(input.deviceId) ? await deps.store.findPairingCode(input.deviceId as DeviceIdText) : null;
  const matches = await verifyPassword(record?.codeHash ?? (await dummy(deps)), code);
  if (record && !record.lockedAt && matches) return record;
  if (record && !record.lockedAt) {
    const failures = record.failedAttempts + 1;
    const now = deps.clock.now();
    const lockAt = failures >= PAIRING_MAX_FAILURES ? now : null;
    await deps.store.transaction(async (tx) => {
      if (!(await tx.recordPairingFailure(record.deviceId, { expectedFailures: record.failedAttempts, lockAt }))) return;
      await tx.appendAudit({
        at: now, actor: 'system', action: lockAt ? 'pairing.lock' : 'pairing.failure', targetType: 'pairing', targetId: record.deviceId,
        details: { failedAttempts: failures, maxFailures: PAIRING_MAX_FAILURES },
      });
    });
  }
  await notBefore(started);
  throw refused();
}

/** The state checks only a holder of the right code reaches. */
function requireOpen(record: PairingCodeRecord, now: Date): void {
  if (record.revokedAt) throw new ServiceError('pairing_code_revoked', `the pairing code of device ${record.deviceId} was revoked at ${record.revokedAt.toISOString()}; ask an administrator for a new one`);
  if (record.usedAt) throw new ServiceError('pairing_code_used', `the pairing code of device ${record.deviceId} was used at ${record.usedAt.toISOString()}; a code pairs once — ask an administrator for a new one`);
  if (now >= record.expiresAt) throw new ServiceError('pairing_code_expired', `the pairing code of device ${record.deviceId} expired at ${record.expiresAt.toISOString()}; ask an administrator for a new one`);
}

export interface PairingHello {
  readonly deviceId: string;
  readonly deviceLabel: string;
  readonly system: string;
  readonly component: string;
  readonly keyTypes: readonly KeyType[];
  readonly centralKeyGeneration: boolean;
}

/** The first step: the right code for an open pairing tells the device what its CSR should say. Spends nothing. */
export async function pairingHello(deps: Pick<ServiceDeps, 'store' | 'clock' | 'random'>, input: { deviceId: string; code: string }): Promise<PairingHello> {
  const record = await checkPairingCode(deps, input);
  requireOpen(record, deps.clock.now());
  const system = await deps.store.findSystemById(record.systemId);
  const component = await deps.store.findComponentById(record.componentId);
  if (!system || !component) throw new ServiceError('component_not_found', `the system or component of device ${record.deviceId}'s pairing no longer exists`);
  return {
    deviceId: record.deviceId,
    deviceLabel: record.deviceLabel,
    system: system.name,
    component: component.name,
    keyTypes: component.keyTypes,
    centralKeyGeneration: system.centralKeyGeneration,
  };
}

export type PayloadSignature = 'asymmetric' | 'hmac';

export interface PairInput {
  readonly deviceId: string;
  readonly code: string;
  /** The device's CSR (DER or PEM); absent: the service generates the key (central key generation). */
  readonly csr?: Uint8Array | string;
  /** For central key generation: the key type (default the component's first). */
  readonly keyType?: KeyType;
  readonly signature?: PayloadSignature;
}

export type PairResult =
  | { readonly state: 'approved'; readonly payload: PairingPayload; readonly profile: string; readonly request: RequestRecord }
  | { readonly state: 'pending'; readonly request: RequestRecord };

/**
 * The second step: the right code and a CSR make the request (secret-enrollment.ts: one
 * transaction, the code marked used with it) and, once approved, the seed's payload. The same
 * code and CSR again answer the same request's state: how a device waiting for an approver asks.
 */
export async function pairDevice(deps: Pick<ServiceDeps, 'store' | 'clock' | 'random' | 'authority' | 'urls' | 'decisions'>, input: PairInput): Promise<PairResult> {
  const record = await checkPairingCode(deps, input);
  const now = deps.clock.now();
  const form = input.signature ?? 'asymmetric';
  let csr: ParsedCsr;
  let centralKeyPem: string | null = null;
  if (input.csr !== undefined) {
    csr = parseCsr(input.csr);
    verifyCsr(csr);
  } else {
    const central = await centralCsr(deps, record, input.keyType);
    csr = central.csr;
    centralKeyPem = central.keyPem;
  }
  const csrSha256 = createHash('sha256').update(csr.der).digest('hex');
  if (record.usedAt && record.usedRequestId && record.usedCsrSha256 === csrSha256 && input.csr !== undefined) {
    return answerFor(deps, record, record.usedRequestId, { code: input.code, form, centralKeyPem: null });
  }
  requireOpen(record, now);
  const result = await enrollWithSecret(deps, {
    kind: 'pairing-code',
    deviceId: record.deviceId,
    csr,
    redeem: async (tx, at) => {
      const current = await tx.findPairingCode(record.deviceId);
      if (!current || current.codeHash !== record.codeHash) throw refused();
      requireOpen(current, at);
      if (current.lockedAt) throw refused();
      const system = await tx.findSystemById(current.systemId);
      const component = await tx.findComponentById(current.componentId);
      if (!system || !component) throw new ServiceError('component_not_found', `the system or component of device ${record.deviceId}'s pairing no longer exists`);
      await tx.appendAudit({
        at, actor: `device:${record.deviceId}`, action: 'pairing.use', targetType: 'pairing', targetId: record.deviceId,
        details: { system: system.name, component: component.name, signature: form, ...(centralKeyPem ? { centralKeyGeneration: true } : {}) },
      });
      return { id: record.deviceId, system, component, deviceLabel: current.deviceLabel };
    },
    afterRequest: async (tx, request, at) => {
      // Compare-and-set: of two pairings with the right code at once, one uses it.
      if (!(await tx.usePairingCode(record.deviceId, { at, requestId: request.id, csrSha256 }))) {
        throw new ServiceError('pairing_code_used', `the pairing code of device ${record.deviceId} was used just now by another call`);
      }
    },
  });
  if (!result.issuance) {
    if (centralKeyPem) throw new Error('a centrally generated key is only issued in the same transaction');
    return { state: 'pending', request: result.request };
  }
  return answerFor(deps, record, result.request.id, { code: input.code, form, centralKeyPem });
}

/**
 * Central key generation (the system's off-by-default switch, D39): for a device that cannot make
 * keys, the service makes one, certifies it like any other and sends it once in the payload; it
 * is never stored. Only where the code itself is the approval: a key waiting for an approver
 * would have to be kept.
 */
async function centralCsr(deps: Pick<ServiceDeps, 'store'>, record: PairingCodeRecord, keyType: KeyType | undefined): Promise<{ csr: ParsedCsr; keyPem: string }> {
  const system = await deps.store.findSystemById(record.systemId);
  const component = await deps.store.findComponentById(record.componentId);
  if (!system?.centralKeyGeneration || !system.enrollmentSecretApproves) {
    throw new ServiceError('central_key_not_allowed', `system "${system?.name ?? '?'}" does not generate device keys: send a CSR (the device makes its key), or an admin turns on --central-keys together with --secret-approves`);
  }
  const type = keyType ?? component?.keyTypes[0] ?? 'p256';
  const key = await generateKey(type);
  const der = await createCsr(createKeySigner(key.privateKey), {
    subject: [{ type: 'CN', value: record.deviceId }, { type: 'OU', value: system.name }],
    subjectAltName: deviceSubjectAltName({ deviceId: record.deviceId, deviceLabel: record.deviceLabel }),
  });
  return { csr: parseCsr(der), keyPem: exportPrivateKeyPem(key.privateKey) };
}

async function answerFor(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'authority' | 'urls'>,
  record: PairingCodeRecord,
  requestId: RequestRecord['id'],
  o: { code: string; form: PayloadSignature; centralKeyPem: string | null },
): Promise<PairResult> {
  const request = await deps.store.findRequest(requestId);
  if (!request) throw refused();
  if (request.state === 'pending') return { state: 'pending', request };
  if (request.state === 'rejected') throw new ServiceError('request_rejected', `request ${request.id} was rejected: ${request.decisionReason ?? 'no reason given'}`);
  const certificate = await deps.store.findCertificateByRequest(request.id);
  const profile = await deps.store.findProfile(request.id);
  if (!certificate || !profile) throw new ServiceError('profile_not_found', `request ${request.id} has no certificate yet`);
  const now = deps.clock.now();
  const fields: PairingPayloadFields = {
    deviceId: record.deviceId,
    pairingCode: maskPairingCode(o.code),
    serverUrl: deps.urls.serviceUrl,
    clientCertificate: encodePem('CERTIFICATE', certificate.der),
    ...(o.centralKeyPem ? { clientPrivateKey: o.centralKeyPem } : {}),
    caCertificate: encodePem('CERTIFICATE', deps.authority.intermediate.der),
    issuedAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + PAIRING_PAYLOAD_LIFETIME_MS).toISOString(),
  };
  const payload = o.form === 'hmac'
    ? signPairingPayloadHmac(fields, derivePairingHmacKey(o.code, record.deviceId))
    : await signPairingPayload(fields, { signer: deps.authority.profileSigner, signerChain: deps.authority.profileSignerChain });
  return { state: 'approved', payload, profile: profile.content.toString('utf8'), request };
}
