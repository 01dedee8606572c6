/**
 * One-time enrollment tokens, the token/PSK method (docs/service.md "Enrollment tokens", D38).
 * An admin makes one for a system and component, bound to one device id or an anchored pattern
 * of ids, for a number of uses (1 by default) until it expires (24 h by default). A device
 * enrolls with it and a CSR (enrollWithToken, or another front-end such as EST calling
 * `redeemEnrollmentToken` inside its own issuing transaction).
 *
 * Form: `pvt_<id>_<secret>`, id 16 hex digits (the lookup key, shown in lists and the audit
 * log), secret 64 hex digits = 256 bits from the CSPRNG. Only the SHA-256 of the secret is
 * stored and compared in constant time: a fast hash is enough for a 256-bit random secret, which
 * no offline search can guess (unlike a short pairing code, which gets scrypt). The token is
 * printed once; neither it nor its secret is ever logged or audited.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { type ParsedCsr, checkNameAttribute, parseCsr, parseDeviceId, verifyCsr } from '@provisio/pki';
import { deviceIdPatternProblem, matchesDeviceIdPattern } from './approval-policy.js';
import { type Actor, type ServiceDeps, actorName } from './deps.js';
import { ServiceError } from './errors.js';
import type { ComponentRecord, DeviceIdText, EnrollmentTokenId, EnrollmentTokenRecord, SystemRecord } from './model.js';
import { type SecretEnrollmentResult, enrollWithSecret } from './secret-enrollment.js';
import type { StoreTx } from './store.js';
import { requireComponent, requireSystem } from './systems.js';

export const TOKEN_PREFIX = 'pvt';
const TOKEN_FORM = /^pvt_([0-9a-f]{16})_([0-9a-f]{64})$/;
export const DEFAULT_TOKEN_LIFETIME_SECONDS = 24 * 3600;
export const MAX_TOKEN_LIFETIME_SECONDS = 30 * 24 * 3600;
export const MAX_TOKEN_USES = 10_000;

export type EnrollmentTokenState = 'active' | 'used' | 'expired' | 'revoked';

export function tokenState(token: EnrollmentTokenRecord, now: Date): EnrollmentTokenState {
  if (token.revokedAt) return 'revoked';
  if (token.uses >= token.maxUses) return 'used';
  if (now >= token.expiresAt) return 'expired';
  return 'active';
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

export interface CreateTokenInput {
  readonly system: string;
  readonly component: string;
  /** Exactly one of deviceId and devicePattern. */
  readonly deviceId?: string;
  readonly devicePattern?: string;
  readonly maxUses?: number;
  readonly expiresInSeconds?: number;
}

export interface CreatedToken {
  /** `pvt_<id>_<secret>`: shown once, never stored. */
  readonly token: string;
  readonly record: EnrollmentTokenRecord;
  readonly system: SystemRecord;
  readonly component: ComponentRecord;
}

export async function createEnrollmentToken(deps: Pick<ServiceDeps, 'store' | 'clock' | 'random'>, actor: Actor, input: CreateTokenInput): Promise<CreatedToken> {
  const invalid = (message: string) => new ServiceError('token_binding_invalid', message);
  if ((input.deviceId === undefined) === (input.devicePattern === undefined)) {
    throw invalid('a token is bound to exactly one of a device id (--id) or a device id pattern (--pattern)');
  }
  const deviceId = input.deviceId === undefined ? null : (parseDeviceId(input.deviceId) as string as DeviceIdText);
  if (input.devicePattern !== undefined) {
    const problem = deviceIdPatternProblem(input.devicePattern);
    if (problem !== null) throw invalid(`the device id pattern ${problem}`);
  }
  const maxUses = input.maxUses ?? 1;
  if (!Number.isInteger(maxUses) || maxUses < 1 || maxUses > MAX_TOKEN_USES) throw invalid(`uses must be 1 to ${MAX_TOKEN_USES}; got ${maxUses}`);
  const lifetime = input.expiresInSeconds ?? DEFAULT_TOKEN_LIFETIME_SECONDS;
  if (!Number.isInteger(lifetime) || lifetime < 60 || lifetime > MAX_TOKEN_LIFETIME_SECONDS) {
    throw invalid(`a token lives 60 s to ${MAX_TOKEN_LIFETIME_SECONDS / 86400} days; got ${lifetime} s`);
  }
  const system = await requireSystem(deps, input.system);
  const component = await requireComponent(deps, system, input.component);
  const now = deps.clock.now();
  const id = Buffer.from(deps.random.bytes(8)).toString('hex') as EnrollmentTokenId;
  const secret = Buffer.from(deps.random.bytes(32)).toString('hex');
  const record: EnrollmentTokenRecord = {
    id,
    systemId: system.id,
    componentId: component.id,
    deviceId,
    devicePattern: input.devicePattern ?? null,
    secretSha256: sha256(secret),
    maxUses,
    uses: 0,
    expiresAt: new Date(now.getTime() + lifetime * 1000),
    createdAt: now,
    createdBy: actor.userId,
    revokedAt: null,
    lastUsedAt: null,
  };
  await deps.store.transaction(async (tx) => {
    await tx.insertEnrollmentToken(record);
    await tx.appendAudit({
      at: now,
      actor: actorName(actor),
      action: 'token.create',
      targetType: 'enrollment-token',
      targetId: id,
      details: {
        system: system.name,
        component: component.name,
        ...(deviceId ? { deviceId } : { devicePattern: record.devicePattern }),
        maxUses,
        expiresAt: record.expiresAt.toISOString(),
      },
    });
  });
  return { token: `${TOKEN_PREFIX}_${id}_${secret}`, record, system, component };
}

export async function listEnrollmentTokens(deps: Pick<ServiceDeps, 'store'>, filter: { system?: string }): Promise<EnrollmentTokenRecord[]> {
  const system = filter.system === undefined ? undefined : await requireSystem(deps, filter.system);
  return deps.store.listEnrollmentTokens(system ? { systemId: system.id } : {});
}

/** Revokes a token: it enrolls nothing from now on. Revoking a revoked token changes nothing. */
export async function revokeEnrollmentToken(deps: Pick<ServiceDeps, 'store' | 'clock'>, actor: Actor, id: string): Promise<EnrollmentTokenRecord> {
  const token = await deps.store.findEnrollmentToken(id as EnrollmentTokenId);
  if (!token) throw new ServiceError('token_not_found', `no enrollment token has id "${id}"; list them with "provisio token list"`);
  if (token.revokedAt) return token;
  const now = deps.clock.now();
  await deps.store.transaction(async (tx) => {
    if (!(await tx.revokeEnrollmentToken(token.id, now))) return;
    await tx.appendAudit({ at: now, actor: actorName(actor), action: 'token.revoke', targetType: 'enrollment-token', targetId: token.id, details: { usesBefore: token.uses, maxUses: token.maxUses } });
  });
  return (await deps.store.findEnrollmentToken(token.id)) ?? token;
}

/**
 * The token whose whole text `secret` is, its secret checked and nothing spent; refused as
 * `token_invalid` (malformed, unknown id or wrong secret: one answer) otherwise.
 */
export async function findTokenBySecret(store: Pick<StoreTx, 'findEnrollmentToken'>, secretText: string): Promise<EnrollmentTokenRecord> {
  const refused = () => new ServiceError('token_invalid', 'the enrollment token is not valid; ask an administrator for a new one ("provisio token create")');
  const match = TOKEN_FORM.exec(secretText.trim());
  if (!match) throw refused();
  const [, id, secret] = match as unknown as [string, string, string];
  const token = await store.findEnrollmentToken(id as EnrollmentTokenId);
  // Compared in constant time against the stored hash (a dummy one when the id is unknown).
  const stored = token?.secretSha256 ?? Buffer.alloc(32);
  const isRight = timingSafeEqual(sha256(secret), stored) && token !== null;
  if (!token || !isRight) throw refused();
  return token;
}

export interface RedeemedToken {
  /** The token as it is after this use. */
  readonly token: EnrollmentTokenRecord;
  readonly system: SystemRecord;
  readonly component: ComponentRecord;
}

/**
 * Checks `secret` (the whole `pvt_…` token) for `deviceId` at `now` and spends one use, inside
 * the caller's issuing transaction `tx`, appending a `token.use` audit entry (the token id,
 * never the secret). Refuses with a stable code, writing nothing: `token_invalid` (malformed,
 * unknown id or wrong secret: one answer, so the id alone tells nothing), then — only to a
 * holder of the right secret — `token_revoked`, `token_used`, `token_expired`,
 * `token_device_mismatch`. A refusal later in the caller's transaction rolls the use back.
 */
export async function redeemEnrollmentToken(tx: StoreTx, input: { secret: string; deviceId: string; now: Date }): Promise<RedeemedToken> {
  return spendEnrollmentToken(tx, await findTokenBySecret(tx, input.secret), input);
}

/**
 * Spends one use of a token whose holder was authenticated already: by its secret
 * (redeemEnrollmentToken), or by a CMP MAC made with it (protocols/cmp-server.ts). The same
 * checks, codes and `token.use` entry as redeemEnrollmentToken after the secret.
 */
export async function spendEnrollmentToken(tx: StoreTx, token: EnrollmentTokenRecord, input: { deviceId: string; now: Date }): Promise<RedeemedToken> {
  const { now, deviceId } = input;
  if (token.revokedAt) throw new ServiceError('token_revoked', `enrollment token ${token.id} was revoked at ${token.revokedAt.toISOString()}; ask an administrator for a new one`);
  if (token.uses >= token.maxUses) throw new ServiceError('token_used', `enrollment token ${token.id} was used ${token.uses} of ${token.maxUses} time(s); ask an administrator for a new one`);
  if (now >= token.expiresAt) throw new ServiceError('token_expired', `enrollment token ${token.id} expired at ${token.expiresAt.toISOString()}; ask an administrator for a new one`);
  const bound = token.deviceId !== null ? token.deviceId === deviceId : token.devicePattern !== null && matchesDeviceIdPattern(token.devicePattern, deviceId);
  if (!bound) {
    throw new ServiceError('token_device_mismatch', `enrollment token ${token.id} is for ${token.deviceId !== null ? `device ${token.deviceId}` : `device ids matching ${token.devicePattern}`}, not ${deviceId}`);
  }
  const system = await tx.findSystemById(token.systemId);
  const component = await tx.findComponentById(token.componentId);
  if (!system || !component) throw new ServiceError('component_not_found', `the system or component of enrollment token ${token.id} no longer exists`);
  if (!(await tx.useEnrollmentToken(token.id, { expectedUses: token.uses, at: now }))) {
    throw new ServiceError('token_used', `enrollment token ${token.id} was used or revoked concurrently`);
  }
  await tx.appendAudit({
    at: now,
    actor: `device:${deviceId}`,
    action: 'token.use',
    targetType: 'enrollment-token',
    targetId: token.id,
    details: { deviceId, use: token.uses + 1, maxUses: token.maxUses, system: system.name, component: component.name },
  });
  return { token: { ...token, uses: token.uses + 1, lastUsedAt: now }, system, component };
}

export interface TokenEnrollmentInput {
  /** The whole `pvt_…` token. */
  readonly token: string;
  readonly deviceId: string;
  /** The label to certify; the device id when absent. */
  readonly deviceLabel?: string;
  /** The CSR, DER or PEM; its key is the device's own. */
  readonly csr: Uint8Array | string;
}

/** A device enrolls with a token and a CSR (POST /api/v1/device/enroll; secret-enrollment.ts). */
export async function enrollWithToken(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'random' | 'authority' | 'urls' | 'decisions'>,
  input: TokenEnrollmentInput,
): Promise<SecretEnrollmentResult> {
  const deviceId = parseDeviceId(input.deviceId) as string as DeviceIdText;
  const deviceLabel = input.deviceLabel ?? deviceId;
  checkNameAttribute({ type: 'description', value: deviceLabel });
  const csr: ParsedCsr = parseCsr(input.csr);
  verifyCsr(csr);
  return enrollWithSecret(deps, {
    kind: 'token',
    deviceId,
    csr,
    redeem: async (tx, now) => {
      const { token, system, component } = await redeemEnrollmentToken(tx, { secret: input.token, deviceId, now });
      return { id: token.id, system, component, deviceLabel };
    },
  });
}
