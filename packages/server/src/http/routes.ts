/** The REST API (v1). Every route declares its roles; docs/api.md and /openapi.json describe them. */
import { Readable } from 'node:stream';
import { KEY_TYPES, encodePem } from '@provisio/pki';
import { BUNDLE_MEDIA_TYPE, MAX_BUNDLE_BYTES, MAX_BUNDLE_ENTRIES } from '@provisio/protocol';
import { verifyStoreAudit } from '../audit/verify-store-audit.js';
import { trustedCheckpointVerifier } from '../audit/checkpoint.js';
import { createCheckpoint } from '../audit/create-checkpoint.js';
import { APPROVER_ROLES } from '../domain/approval-checks.js';
import type { Actor } from '../domain/deps.js';
import { authenticateDeviceCertificate, completeProvisioning, confirmInstall, getDevice, verifyInstallProof } from '../domain/devices.js';
import { ServiceError } from '../domain/errors.js';
import type { DeviceIdText, DeviceState, PackageId, RequestId, RequestState, Role, Transport } from '../domain/model.js';
import { ROLES } from '../domain/model.js';
import { DEVICE_SORTS, type DeviceSort, type SortDirection } from '../domain/store.js';
import { createMockDevices } from '../domain/mock-devices.js';
import { exportAudit, MAX_EXPORT } from '../domain/export-audit.js';
import { createPackage, revokePackage } from '../domain/packages.js';
import { buildProfileBundle, submitRequestBundle } from '../domain/bundles.js';
import { findPendingRenewal, installRenewal } from '../domain/lifecycle.js';
import { revokeDevice } from '../domain/revocation.js';
import { MAX_REPROVISION_REASON, askReprovision, cancelReprovisionAsk } from '../domain/reprovision-ask.js';
import { approveRequest, finishAutomaticApproval, getProfile, rejectRequest, requireRequest, submitRequest } from '../domain/requests.js';
import { type SystemChanges, createComponent, createSystem, describeSystem, requireComponent, requireSystem, updateSystem } from '../domain/systems.js';
import { createUser } from '../domain/users.js';
import { MAX_WAIT_SECONDS } from './decision-waiters.js';
import type { RouteContext, RouteSpec } from './route.js';
import { GATEWAY_ROUTES } from './gateway-routes.js';
import { LIFECYCLE_ROUTES } from './lifecycle-routes.js';
import { POLICY_ROUTES } from './policy-routes.js';
import { PROTOCOL_ROUTES } from './protocol-routes.js';
import { REVIEW_ROUTES } from './review-routes.js';
import { CA_ROUTES } from './ca-routes.js';
import { ENROLLMENT_TOKEN_ROUTES } from './enrollment-routes.js';
import { PAIRING_ROUTES } from './pairing-routes.js';
import { listExpiringCertificates, listRenewalOverdue, parseExpiryWindow } from '../domain/expiry.js';
import { auditView, certificateView, componentView, createNames, deviceView, expiryView, packageView, requestView, systemView, userView } from './views.js';

export const MEDIA = {
  request: 'application/vnd.provisio.request+json',
  profile: 'application/vnd.provisio.profile+json',
  package: 'application/vnd.provisio.package+json',
  bundle: BUNDLE_MEDIA_TYPE,
} as const;

const ALL: readonly Role[] = ROLES;
const READERS: readonly Role[] = ['admin', 'approver', 'auditor'];

const name = { type: 'string', minLength: 1, maxLength: 64 } as const;
const id = { type: 'string', minLength: 1, maxLength: 80, pattern: '^[A-Za-z0-9._:-]+$' } as const;
const paging = {
  limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
  offset: { type: 'integer', minimum: 0, maximum: 10_000_000, default: 0 },
} as const;
/** Checked by the domain (parseEndEntityReason), so a bad reason gets revocation_reason_invalid. */
const revocationReason = { type: 'string', minLength: 1, maxLength: 40 } as const;
const obj = (properties: Record<string, unknown>, required: string[] = []) => ({ type: 'object', additionalProperties: false, properties, required });

/** The system and component a list query names, resolved (404 when unknown). */
async function scopeOf(deps: RouteContext['deps'], query: Record<string, unknown>) {
  const system = query.system ? await requireSystem(deps, query.system as string) : undefined;
  const component = system && query.component ? await requireComponent(deps, system, query.component as string) : undefined;
  return { system, component };
}

function actorOf(ctx: RouteContext): Actor {
  if (!ctx.actor) throw new ServiceError('unauthenticated', 'this route needs an API token');
  return ctx.actor;
}

export const ROUTES: readonly RouteSpec[] = [
  {
    method: 'GET', url: '/api/v1/health', operationId: 'health', summary: 'Liveness and database integrity', roles: 'public',
    handler: async ({ deps }) => ({ body: { status: 'ok', database: (await deps.store.checkIntegrity()) ? 'ok' : 'failed' } }),
  },
  {
    method: 'GET', url: '/ca/root.crt', operationId: 'getRoot', summary: 'The root of trust (PEM)', roles: 'public',
    handler: async ({ deps }) => ({ body: encodePem('CERTIFICATE', deps.authority.root.der), contentType: 'application/x-pem-file' }),
  },
  {
    method: 'GET', url: '/ca/intermediate.crt', operationId: 'getIntermediate', summary: 'The issuing CA certificate (PEM)', roles: 'public',
    handler: async ({ deps }) => ({ body: encodePem('CERTIFICATE', deps.authority.intermediate.der), contentType: 'application/x-pem-file' }),
  },
  {
    method: 'GET', url: '/ca/intermediate.cer', operationId: 'getIntermediateDer', summary: 'The issuing CA certificate (DER): the CA Issuers URL of certificates (RFC 5280 4.2.2.1)', roles: 'public',
    handler: async ({ deps }) => ({ body: Buffer.from(deps.authority.intermediate.der), contentType: 'application/pkix-cert' }),
  },
  {
    method: 'POST', url: '/api/v1/users', operationId: 'createUser', summary: 'Create a user with a role and an API token (shown once)', roles: ['admin'],
    body: obj({ username: name, role: { type: 'string', enum: [...ROLES] }, password: { type: 'string', minLength: 12, maxLength: 1024 } }, ['username', 'role']),
    handler: async (ctx) => {
      const b = ctx.body as { username: string; role: Role; password?: string };
      const { user, token } = await createUser(ctx.deps, actorOf(ctx), b);
      return { status: 201, body: { user: userView(user), token } };
    },
  },
  {
    method: 'GET', url: '/api/v1/users', operationId: 'listUsers', summary: 'List users', roles: ['admin'],
    handler: async ({ deps }) => ({ body: { items: (await deps.store.listUsers()).map(userView) } }),
  },
  {
    method: 'POST', url: '/api/v1/systems', operationId: 'createSystem', summary: 'Create a system (product line)', roles: ['admin'],
    body: obj({ name, allowMock: { type: 'boolean' }, separationOfDuties: { type: 'boolean' }, enrollmentSecretApproves: { type: 'boolean' }, centralKeyGeneration: { type: 'boolean' } }, ['name']),
    handler: async (ctx) => {
      const b = ctx.body as { name: string; allowMock?: boolean; separationOfDuties?: boolean; enrollmentSecretApproves?: boolean; centralKeyGeneration?: boolean };
      return { status: 201, body: systemView(await createSystem(ctx.deps, actorOf(ctx), b)) };
    },
  },
  {
    method: 'GET', url: '/api/v1/systems', operationId: 'listSystems', summary: 'List systems with their components', roles: ALL,
    handler: async ({ deps }) => {
      const systems = await deps.store.listSystems();
      return { body: { items: await Promise.all(systems.map(async (s) => systemView(s, await deps.store.listComponents(s.id)))) } };
    },
  },
  {
    method: 'GET', url: '/api/v1/systems/:system', operationId: 'getSystem', summary: 'Show a system and its components', roles: ALL,
    params: obj({ system: name }, ['system']),
    handler: async ({ deps, params }) => {
      const { system, components } = await describeSystem(deps, params.system as string);
      return { body: systemView(system, components) };
    },
  },
  {
    method: 'PATCH', url: '/api/v1/systems/:system', operationId: 'updateSystem', summary: 'Change a system\'s settings: allowMock (whether mock device files are accepted), separationOfDuties (whether a request\'s submitter is refused as its approver), enrollmentSecretApproves (whether a valid enrollment token or pairing code counts as the approval), centralKeyGeneration (whether a pairing may have the service generate the device key)', roles: ['admin'],
    params: obj({ system: name }, ['system']),
    body: { ...obj({ allowMock: { type: 'boolean' }, separationOfDuties: { type: 'boolean' }, enrollmentSecretApproves: { type: 'boolean' }, centralKeyGeneration: { type: 'boolean' } }, []), minProperties: 1 },
    handler: async (ctx) => {
      const system = await updateSystem(ctx.deps, actorOf(ctx), ctx.params.system as string, ctx.body as SystemChanges);
      return { body: systemView(system, await ctx.deps.store.listComponents(system.id)) };
    },
  },
  {
    method: 'POST', url: '/api/v1/systems/:system/components', operationId: 'createComponent', summary: 'Create a component (certificate template)', roles: ['admin'],
    params: obj({ system: name }, ['system']),
    body: obj({ name, keyTypes: { type: 'array', minItems: 1, maxItems: 3, items: { type: 'string', enum: [...KEY_TYPES] } }, validityDays: { type: 'integer', minimum: 1, maximum: 825 }, renewalGraceDays: { type: 'integer', minimum: 0, maximum: 90 } }, ['name']),
    handler: async (ctx) => {
      const b = ctx.body as { name: string; keyTypes?: typeof KEY_TYPES[number][]; validityDays?: number; renewalGraceDays?: number };
      const component = await createComponent(ctx.deps, actorOf(ctx), { system: ctx.params.system as string, ...b });
      return { status: 201, body: componentView(component) };
    },
  },
  {
    method: 'POST', url: '/api/v1/packages', operationId: 'createPackage', summary: 'Create a provisioning package (returns the file once; it holds the bootstrap key)', roles: ['admin'],
    admission: true,
    body: obj({ system: name, days: { type: 'integer', minimum: 1, maximum: 365 }, requestLifetimeSeconds: { type: 'integer', minimum: 60 } }, ['system']),
    handler: async (ctx) => {
      const b = ctx.body as { system: string; days?: number; requestLifetimeSeconds?: number };
      const created = await createPackage(ctx.deps, actorOf(ctx), b);
      return { status: 201, body: created.fileText, contentType: MEDIA.package, headers: { 'x-package-id': created.record.id, 'cache-control': 'no-store' } };
    },
  },
  {
    method: 'GET', url: '/api/v1/packages', operationId: 'listPackages', summary: 'List provisioning packages', roles: READERS,
    query: obj({ system: name }),
    handler: async ({ deps, query }) => {
      const system = query.system ? await requireSystem(deps, query.system as string) : null;
      const names = createNames(deps.store);
      return { body: { items: await Promise.all((await deps.store.listPackages(system?.id)).map((p) => packageView(p, names))) } };
    },
  },
  {
    method: 'POST', url: '/api/v1/packages/:id/revoke', operationId: 'revokePackage', summary: 'Revoke a provisioning package and its bootstrap credential: its requests are refused from now on', roles: ['admin'],
    params: obj({ id }, ['id']),
    // Body: none, {} or {"reason": R} (checked here: a schema would refuse a call with no body).
    handler: async (ctx) => {
      const b = ctx.body;
      const isObject = typeof b === 'object' && b !== null && !Array.isArray(b);
      if (b !== undefined && b !== null && (!isObject || Object.keys(b).some((k) => k !== 'reason') || ('reason' in b && typeof b.reason !== 'string'))) {
        throw new ServiceError('validation_failed', 'send no body, or {"reason": R} with an RFC 5280 reason');
      }
      const reason = isObject && 'reason' in b ? (b.reason as string) : undefined;
      return { body: await packageView(await revokePackage(ctx.deps, actorOf(ctx), ctx.params.id as PackageId, reason), createNames(ctx.deps.store)) };
    },
  },
  {
    method: 'POST', url: '/api/v1/requests', operationId: 'submitRequest', summary: 'Upload a provisioning request file, or a request bundle (byte-exact)', roles: ['admin', 'technician'],
    admission: true,
    rawBody: { contentTypes: [MEDIA.request, 'application/octet-stream', MEDIA.bundle], maxBytes: 64 * 1024, maxBytesByType: { [MEDIA.bundle]: MAX_BUNDLE_BYTES } },
    handler: async (ctx) => {
      if (ctx.contentType === MEDIA.bundle) {
        // The bundle as a whole is checked first (a bad one stores nothing); then one verdict per entry.
        const result = await submitRequestBundle(ctx.deps, actorOf(ctx), ctx.body as Buffer);
        const names = createNames(ctx.deps.store);
        const entries = await Promise.all(
          result.entries.map(async (v) => (v.ok ? { name: v.name, ok: true, created: v.created, request: await requestView(v.request, names) } : v)),
        );
        const count = (f: (v: (typeof result.entries)[number]) => boolean) => result.entries.filter(f).length;
        return {
          body: {
            bundle: { sha256: result.contentHash, packageId: result.packageId, entries: entries.length },
            created: count((v) => v.ok && v.created),
            duplicate: count((v) => v.ok && !v.created),
            refused: count((v) => !v.ok),
            entries,
          },
        };
      }
      const { request, created } = await submitRequest(ctx.deps, actorOf(ctx), { raw: ctx.body as Buffer, transport: 'upload' });
      return { status: created ? 201 : 200, body: { created, request: await requestView(request, createNames(ctx.deps.store)) } };
    },
  },
  {
    method: 'GET', url: '/api/v1/requests', operationId: 'listRequests', summary: 'List provisioning requests (newest first)', roles: READERS,
    query: obj({ state: { type: 'string', enum: ['pending', 'approved', 'rejected'] }, system: name, component: name, q: { type: 'string', maxLength: 128 }, ...paging }),
    handler: async ({ deps, query }) => {
      const { system, component } = await scopeOf(deps, query);
      const page = await deps.store.listRequests({
        state: query.state as RequestState | undefined,
        systemId: system?.id,
        componentId: component?.id,
        text: query.q as string | undefined,
        limit: query.limit as number,
        offset: query.offset as number,
      });
      const names = createNames(deps.store);
      return { body: { total: page.total, items: await Promise.all(page.items.map((r) => requestView(r, names))) } };
    },
  },
  {
    method: 'GET', url: '/api/v1/requests/:id', operationId: 'getRequest', summary: 'Show one provisioning request', roles: ALL,
    params: obj({ id }, ['id']),
    handler: async ({ deps, params }) => ({ body: await requestView(await requireRequest(deps, params.id as RequestId), createNames(deps.store)) }),
  },
  {
    method: 'POST', url: '/api/v1/requests/:id/approve', operationId: 'approveRequest', summary: 'Approve: issue the certificate and the certified profile', roles: APPROVER_ROLES,
    admission: true,
    params: obj({ id }, ['id']),
    handler: async (ctx) => {
      const { request, certificate } = await approveRequest(ctx.deps, actorOf(ctx), ctx.params.id as RequestId);
      return { body: { request: await requestView(request, createNames(ctx.deps.store)), certificate: certificateView(certificate) } };
    },
  },
  {
    method: 'POST', url: '/api/v1/requests/:id/reject', operationId: 'rejectRequest', summary: 'Reject with a reason', roles: APPROVER_ROLES,
    params: obj({ id }, ['id']),
    body: obj({ reason: { type: 'string', minLength: 1, maxLength: 500 } }, ['reason']),
    handler: async (ctx) => {
      const request = await rejectRequest(ctx.deps, actorOf(ctx), ctx.params.id as RequestId, (ctx.body as { reason: string }).reason);
      return { body: await requestView(request, createNames(ctx.deps.store)) };
    },
  },
  {
    method: 'GET', url: '/api/v1/requests/:id/profile', operationId: 'downloadProfile', summary: 'Download the certified profile of an approved request', roles: ['admin', 'technician'],
    params: obj({ id }, ['id']),
    handler: async ({ deps, params }) => ({ body: await getProfile(deps, params.id as RequestId), contentType: MEDIA.profile }),
  },
  {
    method: 'POST', url: '/api/v1/profiles/bundle', operationId: 'downloadProfileBundle', summary: 'The certified profiles of many requests as one bundle signed by the profile signer, and why the others are not ready', roles: ['admin', 'technician'],
    admission: true,
    // 10,000 hashes of 64 hex digits: ~700 KB of JSON.
    bodyLimit: 1024 * 1024,
    body: obj({
      requestIds: { type: 'array', maxItems: MAX_BUNDLE_ENTRIES, uniqueItems: true, items: id },
      contentSha256: { type: 'array', maxItems: MAX_BUNDLE_ENTRIES, uniqueItems: true, items: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
    }),
    handler: async (ctx) => {
      const b = ctx.body as { requestIds?: string[]; contentSha256?: string[] };
      const total = (b.requestIds?.length ?? 0) + (b.contentSha256?.length ?? 0);
      if (total === 0 || total > MAX_BUNDLE_ENTRIES) {
        throw new ServiceError('validation_failed', `name 1 to ${MAX_BUNDLE_ENTRIES} requests by requestIds or by contentSha256 (the SHA-256 of their request files)`);
      }
      const result = await buildProfileBundle(ctx.deps, actorOf(ctx), { requestIds: b.requestIds ?? [], contentHashes: b.contentSha256 ?? [] });
      return { body: result, headers: { 'cache-control': 'no-store' } };
    },
  },
  // Connected delivery (docs/service.md, "Connected delivery"): the device itself submits its
  // request and fetches its profile. Public: the request file's two signatures (device key and
  // package bootstrap credential) authenticate the upload, and the 128-bit random request id is
  // the capability to read a profile, which holds no secret.
  {
    method: 'POST', url: '/api/v1/device/requests', operationId: 'deviceSubmitRequest', summary: 'A device submits its own provisioning request (connected delivery; the request\'s signatures authenticate it)', roles: 'public',
    admission: true,
    rawBody: { contentTypes: [MEDIA.request, 'application/octet-stream'], maxBytes: 64 * 1024 },
    handler: async (ctx) => {
      const { request, created } = await submitRequest(ctx.deps, null, { raw: ctx.body as Buffer, transport: 'connected' });
      return { status: created ? 201 : 200, body: { request: { id: request.id, state: request.state } } };
    },
  },
  {
    method: 'GET', url: '/api/v1/device/requests/:id/profile', operationId: 'deviceGetProfile', summary: 'A device fetches its certified profile: 200 when approved, 202 while pending; ?wait=N (≤ 30 s) holds the answer until the request is decided (long-poll)', roles: 'public',
    params: obj({ id }, ['id']),
    // Larger waits are accepted and shortened to 30 s, so a newer device never meets a 400 here.
    query: obj({ wait: { type: 'integer', minimum: 0, maximum: 3600 } }),
    handler: async ({ deps, params, query, decisionWaiters }) => {
      const requestId = params.id as RequestId;
      let request = await finishAutomaticApproval(deps, await requireRequest(deps, requestId));
      let held = false;
      const waitMs = Math.min(MAX_WAIT_SECONDS, (query.wait as number | undefined) ?? 0) * 1000;
      if (request.state === 'pending' && waitMs > 0) {
        // Registered before reading the state again, so a decision in between is not missed.
        const wait = decisionWaiters?.register(requestId, waitMs) ?? null;
        if (wait) {
          held = true;
          request = await requireRequest(deps, requestId);
          if (request.state === 'pending') {
            if (await wait.promise) request = await requireRequest(deps, requestId);
          } else {
            wait.cancel();
          }
        }
      }
      // RFC 9110 §10.2.3: after a held poll the device may ask again at once (1 s spacing); an
      // unheld answer (no wait asked, or every hold place taken) keeps plain polling at 5 s.
      if (request.state === 'pending') return { status: 202, body: { state: 'pending' }, headers: { 'retry-after': held ? '1' : '5', 'cache-control': 'no-store' } };
      if (request.state === 'rejected') throw new ServiceError('request_rejected', `request ${request.id} was rejected: ${request.decisionReason ?? 'no reason given'}`);
      return { body: await getProfile(deps, request.id), contentType: MEDIA.profile };
    },
  },
  // 'public' as to tokens, but not anonymous: the device authenticates with its new certificate as
  // a TLS client certificate (mutual TLS). The listener requests one without requiring it, so the
  // route itself refuses a call without one (401 client_certificate_required) and verifies the
  // chain, purpose and store record. This call proves the profile was installed (seed 000 step 9).
  {
    method: 'POST', url: '/api/v1/device/confirm', operationId: 'deviceConfirm', summary: 'A device proves its install over mutual TLS with its new certificate: the service marks it Provisioned', roles: 'public',
    admission: true,
    clientCertificate: true,
    handler: async (ctx) => {
      // Body: none, {} or {"proof": "..."} (checked here: a schema would refuse a call with no
      // body at all). The proof (signed with the device key) is what a gateway forwards when the
      // device confirms through one; sent here too, it is verified like there.
      const b = ctx.body;
      const keys = b !== undefined && b !== null && typeof b === 'object' && !Array.isArray(b) ? Object.keys(b) : null;
      if (b !== undefined && b !== null && (!keys || keys.some((k) => k !== 'proof'))) {
        throw new ServiceError('validation_failed', 'send no body, {} or {"proof": "<compact JWS>"}');
      }
      const presented = ctx.clientCertificates ?? [];
      // The certificate of a renewal not yet confirmed becomes current here (domain/lifecycle.ts).
      const renewal = await findPendingRenewal(ctx.deps, presented);
      const { deviceId, serial } = renewal ?? await authenticateDeviceCertificate(ctx.deps, presented);
      if (keys?.includes('proof')) verifyInstallProof(ctx.deps, presented[0] as Buffer, { deviceId, serial }, (b as { proof: unknown }).proof);
      if (renewal) await installRenewal(ctx.deps, renewal);
      const view = await confirmInstall(ctx.deps, deviceId, serial);
      return { body: { deviceId: view.device.deviceId, state: view.device.state } };
    },
  },
  {
    method: 'GET', url: '/api/v1/devices', operationId: 'listDevices', summary: 'List devices', roles: READERS,
    query: obj({ state: { type: 'string', enum: ['pending', 'approved', 'provisioned', 'rejected', 'revoked'] }, system: name, component: name, q: { type: 'string', maxLength: 128 }, sort: { type: 'string', enum: [...DEVICE_SORTS] }, direction: { type: 'string', enum: ['asc', 'desc'] },
      transport: { type: 'string', enum: ['upload', 'connected', 'proxy'] }, expiresWithinDays: { type: 'integer', minimum: 0, maximum: 3650 },
      needsApproval: { type: 'boolean', description: 'true: only devices with a pending request of any kind (provisioning, renewal, reprovisioning)' }, ...paging }),
    handler: async ({ deps, query }) => {
      const { system, component } = await scopeOf(deps, query);
      const days = query.expiresWithinDays as number | undefined;
      const page = await deps.store.listDevices({
        sort: query.sort as DeviceSort | undefined,
        direction: query.direction as SortDirection | undefined,
        transport: query.transport as Transport | undefined,
        ...(days !== undefined ? { certificateExpiresBefore: new Date(deps.clock.now().getTime() + days * 86_400_000) } : {}),
        state: query.state as DeviceState | undefined,
        needsApproval: query.needsApproval === true,
        systemId: system?.id,
        componentId: component?.id,
        text: query.q as string | undefined,
        limit: query.limit as number,
        offset: query.offset as number,
      });
      const names = createNames(deps.store);
      return { body: { total: page.total, items: await Promise.all(page.items.map((d) => deviceView(d, names))) } };
    },
  },
  {
    method: 'GET', url: '/api/v1/devices/:deviceId', operationId: 'getDevice', summary: 'Show a device and every certificate it had', roles: READERS,
    params: obj({ deviceId: id }, ['deviceId']),
    handler: async ({ deps, params }) => {
      const view = await getDevice(deps, params.deviceId as DeviceIdText);
      return { body: { ...(await deviceView(view.device, createNames(deps.store))), certificates: view.certificates.map(certificateView) } };
    },
  },
  {
    method: 'POST', url: '/api/v1/devices/:deviceId/complete', operationId: 'completeProvisioning', summary: 'Complete provisioning: mark an installed device Provisioned', roles: ['admin', 'technician'],
    params: obj({ deviceId: id }, ['deviceId']),
    handler: async (ctx) => {
      const view = await completeProvisioning(ctx.deps, actorOf(ctx), ctx.params.deviceId as DeviceIdText);
      return { body: await deviceView(view.device, createNames(ctx.deps.store)) };
    },
  },
  {
    method: 'POST', url: '/api/v1/devices/:deviceId/revoke', operationId: 'revokeDevice', summary: 'Revoke a device: its certificates are revoked with an RFC 5280 reason and the device is disabled', roles: ['admin', 'approver'],
    params: obj({ deviceId: id }, ['deviceId']),
    body: obj({ reason: revocationReason }, ['reason']),
    handler: async (ctx) => {
      const result = await revokeDevice(ctx.deps, actorOf(ctx), ctx.params.deviceId as DeviceIdText, (ctx.body as { reason: string }).reason);
      return {
        body: {
          ...(await deviceView(result.device, createNames(ctx.deps.store))),
          changed: result.changed,
          revoked: result.revoked.map(certificateView),
          crlNumber: result.crlNumber,
        },
      };
    },
  },
  {
    method: 'POST', url: '/api/v1/devices/:deviceId/reprovision', operationId: 'requestReprovision', summary: 'Ask for a provisioned device to be reprovisioned, with a reason: it learns at its next check-in at the central station, and its request counts as approved by the caller', roles: ['admin', 'approver'],
    params: obj({ deviceId: id }, ['deviceId']),
    body: obj({ reason: { type: 'string', minLength: 1, maxLength: MAX_REPROVISION_REASON } }, ['reason']),
    handler: async (ctx) => {
      const result = await askReprovision(ctx.deps, actorOf(ctx), ctx.params.deviceId as DeviceIdText, (ctx.body as { reason: string }).reason);
      return { body: { ...(await deviceView(result.device, createNames(ctx.deps.store))), changed: result.changed } };
    },
  },
  {
    method: 'POST', url: '/api/v1/devices/:deviceId/reprovision/cancel', operationId: 'cancelReprovision', summary: 'Withdraw an outstanding reprovisioning ask', roles: ['admin', 'approver'],
    params: obj({ deviceId: id }, ['deviceId']),
    handler: async (ctx) => {
      const result = await cancelReprovisionAsk(ctx.deps, actorOf(ctx), ctx.params.deviceId as DeviceIdText);
      return { body: { ...(await deviceView(result.device, createNames(ctx.deps.store))), changed: result.changed } };
    },
  },
  {
    method: 'GET', url: '/api/v1/certificates/expiring', operationId: 'listExpiringCertificates', summary: 'List active certificates that expire within a window (e.g. within=30d), soonest first', roles: READERS,
    query: obj({ within: { type: 'string', minLength: 1, maxLength: 8, default: '30d' }, kind: { type: 'string', minLength: 1, maxLength: 40 }, ...paging }),
    handler: async ({ deps, query }) => {
      const windowMs = parseExpiryWindow(query.within as string);
      const kind = query.kind ? { kind: query.kind as string } : {};
      const page = await listExpiringCertificates(deps, { windowMs, ...kind, limit: query.limit as number, offset: query.offset as number });
      return { body: { total: page.total, withinDays: windowMs / 86_400_000, items: page.items.map(expiryView) } };
    },
  },
  {
    method: 'GET', url: '/api/v1/certificates/renewal-overdue', operationId: 'listRenewalOverdue', summary: 'List devices overdue for renewal: their current certificate is past two thirds of its lifetime', roles: READERS,
    query: obj({ ...paging }),
    handler: async ({ deps, query }) => {
      const page = await listRenewalOverdue(deps, { limit: query.limit as number, offset: query.offset as number });
      return { body: { total: page.total, items: page.items.map(expiryView) } };
    },
  },
  {
    method: 'POST', url: '/api/v1/mock-devices', operationId: 'createMockDevices', summary: 'Make mock device files (pre-generated keys, not device-locked) for experimentation', roles: ['admin'],
    admission: true,
    body: obj({ system: name, component: name, count: { type: 'integer', minimum: 1, maximum: 100 } }, ['system', 'component', 'count']),
    handler: async (ctx) => {
      const b = ctx.body as { system: string; component: string; count: number };
      const devices = await createMockDevices(ctx.deps, actorOf(ctx), b);
      return { status: 201, body: { root: encodePem('CERTIFICATE', ctx.deps.authority.root.der), devices }, headers: { 'cache-control': 'no-store' } };
    },
  },
  {
    method: 'GET', url: '/api/v1/audit', operationId: 'listAudit', summary: 'List audit entries (newest first)', roles: ['admin', 'auditor'],
    query: obj({
      actor: { type: 'string', maxLength: 128 }, action: { type: 'string', maxLength: 64 }, target: { type: 'string', maxLength: 128 },
      since: { type: 'string', format: 'date-time' }, until: { type: 'string', format: 'date-time' }, ...paging,
    }),
    handler: async ({ deps, query }) => {
      const page = await deps.store.listAudit({
        ...(query.since ? { since: new Date(query.since as string) } : {}),
        ...(query.until ? { until: new Date(query.until as string) } : {}),
        actor: query.actor as string | undefined,
        action: query.action as string | undefined,
        targetId: query.target as string | undefined,
        limit: query.limit as number,
        offset: query.offset as number,
      });
      return { body: { total: page.total, items: page.items.map(auditView) } };
    },
  },
  {
    method: 'GET', url: '/api/v1/audit/export', operationId: 'exportAudit', summary: 'Every audit entry matching the filters as JSON Lines (newest first, streamed, at most limit)', roles: ['admin', 'auditor'],
    query: obj({
      actor: { type: 'string', maxLength: 128 }, action: { type: 'string', maxLength: 64 }, target: { type: 'string', maxLength: 128 },
      since: { type: 'string', format: 'date-time' }, until: { type: 'string', format: 'date-time' },
      limit: { type: 'integer', minimum: 1, maximum: MAX_EXPORT, default: 10_000 },
    }),
    handler: ({ deps, query }) => {
      const filter = {
        ...(query.since ? { since: new Date(query.since as string) } : {}),
        ...(query.until ? { until: new Date(query.until as string) } : {}),
        ...(query.actor ? { actor: query.actor as string } : {}),
        ...(query.action ? { action: query.action as string } : {}),
        ...(query.target ? { targetId: query.target as string } : {}),
      };
      return Promise.resolve({
        body: Readable.from(exportAudit(deps, filter, query.limit as number, auditView)),
        contentType: 'application/jsonl; charset=utf-8',
        headers: { 'content-disposition': 'attachment; filename="audit.jsonl"', 'cache-control': 'no-store' },
      });
    },
  },
  {
    method: 'GET', url: '/api/v1/audit/verify', operationId: 'verifyAudit', summary: 'Verify the audit hash chain and its signed checkpoints', roles: ['admin', 'auditor'],
    handler: async ({ deps }) => {
      const trusted = trustedCheckpointVerifier(deps.authority.root, [deps.authority.intermediate]);
      return { body: await verifyStoreAudit(deps.store, trusted, deps.auditCheckpointFile) };
    },
  },
  {
    method: 'GET', url: '/api/v1/audit/checkpoints', operationId: 'exportCheckpoints', summary: 'The checkpoint file as it is: every signed checkpoint this node made, as JSON Lines (oldest first)', roles: ['admin', 'auditor'],
    handler: ({ deps }) => Promise.resolve({
      body: deps.auditCheckpointFile?.readText() ?? '',
      contentType: 'application/jsonl; charset=utf-8',
      headers: { 'content-disposition': 'attachment; filename="audit-checkpoints.jsonl"', 'cache-control': 'no-store' },
    }),
  },
  {
    method: 'POST', url: '/api/v1/audit/checkpoints', operationId: 'createCheckpoint', summary: 'Sign a checkpoint of the audit chain now', roles: ['admin'],
    handler: async ({ deps }) => {
      const checkpoint = await createCheckpoint(deps);
      return { status: 201, body: checkpoint };
    },
  },
  ...POLICY_ROUTES,
  ...REVIEW_ROUTES,
  ...CA_ROUTES,
  ...GATEWAY_ROUTES,
  ...LIFECYCLE_ROUTES,
  ...PROTOCOL_ROUTES,
  ...ENROLLMENT_TOKEN_ROUTES,
  ...PAIRING_ROUTES,
];
