/**
 * One-time enrollment tokens (docs/service.md "Enrollment tokens"): administrators create, list
 * and revoke them with an API token; a device enrolls with one on the public
 * POST /api/v1/device/enroll, where the token itself (and the CSR's proof of possession)
 * authenticates it.
 */
import type { Actor } from '../domain/deps.js';
import { ServiceError } from '../domain/errors.js';
import { MAX_TOKEN_LIFETIME_SECONDS, MAX_TOKEN_USES, createEnrollmentToken, enrollWithToken, listEnrollmentTokens, revokeEnrollmentToken, tokenState } from '../domain/enrollment-tokens.js';
import type { EnrollmentTokenRecord, Role } from '../domain/model.js';
import { setupPayloadFor } from '../domain/onboarding.js';
import type { SecretEnrollmentResult } from '../domain/secret-enrollment.js';
import type { RouteContext, RouteSpec } from './route.js';
import { createNames } from './views.js';

const READERS: readonly Role[] = ['admin', 'approver', 'auditor'];
const obj = (properties: Record<string, unknown>, required: string[] = []) => ({ type: 'object', additionalProperties: false, properties, required });
const name = { type: 'string', minLength: 1, maxLength: 64 } as const;
const deviceId = { type: 'string', minLength: 1, maxLength: 64 } as const;
/** A CSR is at most 16 KiB (pki MAX_CSR_BYTES): its base64 is at most 21,848 characters. */
const base64Csr = { type: 'string', minLength: 4, maxLength: 21_848 } as const;

function actorOf(ctx: RouteContext): Actor {
  if (!ctx.actor) throw new ServiceError('unauthenticated', 'this route needs an API token');
  return ctx.actor;
}

async function tokenView(ctx: RouteContext, t: EnrollmentTokenRecord) {
  const names = createNames(ctx.deps.store);
  return {
    id: t.id,
    system: await names.system(t.systemId),
    component: await names.component(t.componentId),
    deviceId: t.deviceId,
    devicePattern: t.devicePattern,
    maxUses: t.maxUses,
    uses: t.uses,
    state: tokenState(t, ctx.deps.clock.now()),
    expiresAt: t.expiresAt.toISOString(),
    createdAt: t.createdAt.toISOString(),
    createdBy: (await names.user(t.createdBy)) ?? t.createdBy,
    revokedAt: t.revokedAt?.toISOString() ?? null,
    lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
  };
}

/**
 * The answer to an enrollment made with a one-time secret: 201 with the certified profile
 * (exactly as signed) when approved in the same transaction, else 202 while an approver decides
 * (the device then polls GET /api/v1/device/requests/:id/profile, RFC 9110 §15.3.3).
 */
export function enrollmentAnswer(result: SecretEnrollmentResult) {
  const request = { id: result.request.id, state: result.request.state };
  if (result.issuance?.profile) return { status: 201, body: { request, profile: result.issuance.profile.toString('utf8') } };
  return { status: 202, body: { request }, headers: { 'retry-after': '5', 'cache-control': 'no-store' } };
}

export const ENROLLMENT_TOKEN_ROUTES: readonly RouteSpec[] = [
  {
    method: 'POST', url: '/api/v1/tokens', operationId: 'createEnrollmentToken', summary: 'Create a one-time enrollment token for a system and component, bound to a device id or pattern (the token is shown once)', roles: ['admin'],
    body: obj({
      system: name,
      component: name,
      deviceId,
      devicePattern: { type: 'string', minLength: 1, maxLength: 200 },
      maxUses: { type: 'integer', minimum: 1, maximum: MAX_TOKEN_USES },
      expiresInSeconds: { type: 'integer', minimum: 60, maximum: MAX_TOKEN_LIFETIME_SECONDS },
    }, ['system', 'component']),
    handler: async (ctx) => {
      const created = await createEnrollmentToken(ctx.deps, actorOf(ctx), ctx.body as Parameters<typeof createEnrollmentToken>[2]);
      const setup = setupPayloadFor(ctx.deps, { deviceId: created.record.deviceId, token: created.token });
      return { status: 201, body: { token: created.token, setup, record: await tokenView(ctx, created.record) }, headers: { 'cache-control': 'no-store' } };
    },
  },
  {
    method: 'GET', url: '/api/v1/tokens', operationId: 'listEnrollmentTokens', summary: 'List enrollment tokens (newest first), never their secrets', roles: READERS,
    query: obj({ system: name }),
    handler: async (ctx) => {
      const tokens = await listEnrollmentTokens(ctx.deps, { ...(ctx.query.system ? { system: ctx.query.system as string } : {}) });
      return { body: { items: await Promise.all(tokens.map((t) => tokenView(ctx, t))) } };
    },
  },
  {
    method: 'POST', url: '/api/v1/tokens/:id/revoke', operationId: 'revokeEnrollmentToken', summary: 'Revoke an enrollment token: it enrolls nothing from now on', roles: ['admin'],
    params: obj({ id: { type: 'string', minLength: 1, maxLength: 40, pattern: '^[0-9a-f]+$' } }, ['id']),
    handler: async (ctx) => ({ body: await tokenView(ctx, await revokeEnrollmentToken(ctx.deps, actorOf(ctx), ctx.params.id as string)) }),
  },
  // Public as to API tokens: the enrollment token authenticates the device, the CSR's signature
  // proves it holds the key.
  {
    method: 'POST', url: '/api/v1/device/enroll', operationId: 'deviceEnrollWithToken', summary: 'A device enrolls with a one-time enrollment token and a CSR: 201 with its certified profile, or 202 while an approver decides', roles: 'public',
    admission: true,
    body: obj({ token: { type: 'string', minLength: 1, maxLength: 200 }, deviceId, deviceLabel: { type: 'string', minLength: 1, maxLength: 128 }, csr: base64Csr }, ['token', 'deviceId', 'csr']),
    handler: async (ctx) => {
      const b = ctx.body as { token: string; deviceId: string; deviceLabel?: string; csr: string };
      const result = await enrollWithToken(ctx.deps, { token: b.token, deviceId: b.deviceId, ...(b.deviceLabel !== undefined ? { deviceLabel: b.deviceLabel } : {}), csr: Buffer.from(b.csr, 'base64') });
      return enrollmentAnswer(result);
    },
  },
];
