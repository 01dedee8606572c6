/**
 * Pairing codes (docs/service.md "Pairing codes"): administrators create, list, revoke and reset
 * them with an API token; a device pairs on the public /api/v1/device/pairing/* routes, where
 * the device id and code authenticate it (one answer for a wrong code, an unknown device and a
 * locked record).
 */
import { APPROVER_ROLES } from '../domain/approval-checks.js';
import type { Actor } from '../domain/deps.js';
import { confirmOnboarding, lookUpOnboarding, type OnboardingView, setupPayloadFor } from '../domain/onboarding.js';
import { ServiceError } from '../domain/errors.js';
import { MAX_PAIRING_LIFETIME_SECONDS, createPairingCode, listPairingCodes, pairDevice, pairingHello, pairingState, resetPairingCode, revokePairingCode } from '../domain/pairing-codes.js';
import type { PairingCodeRecord, Role } from '../domain/model.js';
import type { RouteContext, RouteResult, RouteSpec } from './route.js';
import { createNames, deviceView } from './views.js';

const READERS: readonly Role[] = ['admin', 'approver', 'auditor'];
const obj = (properties: Record<string, unknown>, required: string[] = []) => ({ type: 'object', additionalProperties: false, properties, required });
const name = { type: 'string', minLength: 1, maxLength: 64 } as const;
const deviceId = { type: 'string', minLength: 1, maxLength: 64 } as const;
const code = { type: 'string', minLength: 1, maxLength: 32 } as const;
/** A CSR is at most 16 KiB (pki MAX_CSR_BYTES): its base64 is at most 21,848 characters. */
const base64Csr = { type: 'string', minLength: 4, maxLength: 21_848 } as const;

function actorOf(ctx: RouteContext): Actor {
  if (!ctx.actor) throw new ServiceError('unauthenticated', 'this route needs an API token');
  return ctx.actor;
}

export async function pairingView(ctx: RouteContext, p: PairingCodeRecord) {
  const names = createNames(ctx.deps.store);
  return {
    deviceId: p.deviceId,
    deviceLabel: p.deviceLabel,
    system: await names.system(p.systemId),
    component: await names.component(p.componentId),
    state: pairingState(p, ctx.deps.clock.now()),
    failedAttempts: p.failedAttempts,
    lockedAt: p.lockedAt?.toISOString() ?? null,
    expiresAt: p.expiresAt.toISOString(),
    createdAt: p.createdAt.toISOString(),
    createdBy: (await names.user(p.createdBy)) ?? p.createdBy,
    revokedAt: p.revokedAt?.toISOString() ?? null,
    usedAt: p.usedAt?.toISOString() ?? null,
    requestId: p.usedRequestId,
  };
}

const deviceParam = obj({ deviceId }, ['deviceId']);

/** Who may look a pairing up on the Onboard page (a wrong code counts towards its lock). */
const ONBOARDERS: readonly Role[] = ['admin', 'approver', 'technician'];

async function onboardingView(ctx: RouteContext, v: OnboardingView) {
  return {
    pairing: await pairingView(ctx, v.pairing),
    device: v.device ? await deviceView(v.device, createNames(ctx.deps.store)) : null,
    request: v.request ? { id: v.request.id, state: v.request.state, policyDecision: v.request.policy?.decision ?? null } : null,
  };
}

export const PAIRING_ROUTES: readonly RouteSpec[] = [
  {
    method: 'POST', url: '/api/v1/pairings', operationId: 'createPairingCode', summary: 'Pre-register a device with a pairing code (the code is shown once; the service keeps a scrypt hash)', roles: ['admin'],
    body: obj({ system: name, component: name, deviceId, deviceLabel: { type: 'string', minLength: 1, maxLength: 128 }, expiresInSeconds: { type: 'integer', minimum: 60, maximum: MAX_PAIRING_LIFETIME_SECONDS } }, ['system', 'component', 'deviceId', 'deviceLabel']),
    handler: async (ctx) => {
      const created = await createPairingCode(ctx.deps, actorOf(ctx), ctx.body as Parameters<typeof createPairingCode>[2]);
      const setup = setupPayloadFor(ctx.deps, { deviceId: created.record.deviceId, code: created.code });
      return { status: 201, body: { code: created.code, setup, record: await pairingView(ctx, created.record) }, headers: { 'cache-control': 'no-store' } };
    },
  },
  {
    method: 'GET', url: '/api/v1/pairings', operationId: 'listPairingCodes', summary: 'List pre-registered devices and the state of their pairing codes (never the codes)', roles: READERS,
    query: obj({ system: name }),
    handler: async (ctx) => {
      const items = await listPairingCodes(ctx.deps, { ...(ctx.query.system ? { system: ctx.query.system as string } : {}) });
      return { body: { items: await Promise.all(items.map((p) => pairingView(ctx, p))) } };
    },
  },
  {
    method: 'POST', url: '/api/v1/pairings/:deviceId/revoke', operationId: 'revokePairingCode', summary: 'Revoke a device\'s pairing code: it pairs nothing from now on', roles: ['admin'],
    params: deviceParam,
    handler: async (ctx) => ({ body: await pairingView(ctx, await revokePairingCode(ctx.deps, actorOf(ctx), ctx.params.deviceId as string)) }),
  },
  {
    method: 'POST', url: '/api/v1/pairings/:deviceId/reset', operationId: 'resetPairingCode', summary: 'Clear the count of wrong codes and the lock of a device\'s pairing', roles: ['admin'],
    params: deviceParam,
    handler: async (ctx) => ({ body: await pairingView(ctx, await resetPairingCode(ctx.deps, actorOf(ctx), ctx.params.deviceId as string)) }),
  },
  // The Onboard page (D46): the code in the technician's hands, checked like a device's.
  {
    method: 'POST', url: '/api/v1/onboard/lookup', operationId: 'lookUpOnboarding', summary: 'The device record, pairing state and request of a device id and its pairing code (the Onboard page); a wrong code counts towards the lock', roles: ONBOARDERS,
    body: obj({ deviceId, code }, ['deviceId', 'code']),
    handler: async (ctx) => ({ body: await onboardingView(ctx, await lookUpOnboarding(ctx.deps, ctx.body as { deviceId: string; code: string })), headers: { 'cache-control': 'no-store' } }),
  },
  {
    method: 'POST', url: '/api/v1/onboard/confirm', operationId: 'confirmOnboarding', summary: 'Confirm the device in front of you: approve the request it made with its pairing code (separation of duties and the approval re-checks apply)', roles: APPROVER_ROLES,
    body: obj({ deviceId, code }, ['deviceId', 'code']),
    handler: async (ctx) => ({ body: await onboardingView(ctx, await confirmOnboarding(ctx.deps, actorOf(ctx), ctx.body as { deviceId: string; code: string })), headers: { 'cache-control': 'no-store' } }),
  },
  // Public as to API tokens: the device id and the code authenticate the device.
  {
    method: 'POST', url: '/api/v1/device/pairing/hello', operationId: 'devicePairingHello', summary: 'A device with its pairing code learns what its CSR should say (system, component, label, key types); spends nothing', roles: 'public',
    admission: true,
    body: obj({ deviceId, code }, ['deviceId', 'code']),
    handler: async (ctx) => ({ body: await pairingHello(ctx.deps, ctx.body as { deviceId: string; code: string }), headers: { 'cache-control': 'no-store' } }),
  },
  {
    method: 'POST', url: '/api/v1/device/pairing/pair', operationId: 'devicePair', summary: 'A device pairs with its code and a CSR: 201 with the signed provisioning payload and its certified profile, 202 while an approver decides (the same call again asks)', roles: 'public',
    admission: true,
    body: obj({
      deviceId,
      code,
      csr: base64Csr,
      keyType: { type: 'string', enum: ['p256', 'p384', 'rsa3072'] },
      signature: { type: 'string', enum: ['asymmetric', 'hmac'] },
    }, ['deviceId', 'code']),
    handler: async (ctx): Promise<RouteResult> => {
      const b = ctx.body as { deviceId: string; code: string; csr?: string; keyType?: 'p256' | 'p384' | 'rsa3072'; signature?: 'asymmetric' | 'hmac' };
      const result = await pairDevice(ctx.deps, {
        deviceId: b.deviceId,
        code: b.code,
        ...(b.csr !== undefined ? { csr: Buffer.from(b.csr, 'base64') } : {}),
        ...(b.keyType ? { keyType: b.keyType } : {}),
        ...(b.signature ? { signature: b.signature } : {}),
      });
      const request = { id: result.request.id, state: result.request.state };
      if (result.state === 'pending') return { status: 202, body: { request }, headers: { 'retry-after': '5', 'cache-control': 'no-store' } };
      return { status: 201, body: { request, payload: result.payload, profile: result.profile }, headers: { 'cache-control': 'no-store' } };
    },
  },
];
