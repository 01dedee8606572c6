/** The approver's review of one request (docs/web.md "Devices"): READERS may look; and bulk approval. */
import { APPROVER_ROLES } from '../domain/approval-checks.js';
import { approveMany, MAX_APPROVE_MANY } from '../domain/approve-many.js';
import type { Actor } from '../domain/deps.js';
import { ServiceError } from '../domain/errors.js';
import type { DeviceIdText, RequestId, RequestRecord, Role } from '../domain/model.js';

import { reviewRequest } from '../domain/review-request.js';
import { readDeviceHistory } from '../domain/device-history.js';
import { readDeviceTrace } from '../domain/device-trace.js';
import type { RouteSpec } from './route.js';
import { auditView, certificateView, componentView, createNames, deviceView, packageView, requestView } from './views.js';

const READERS: readonly Role[] = ['admin', 'approver', 'auditor'];
const id = { type: 'string', minLength: 1, maxLength: 80, pattern: '^[A-Za-z0-9._:-]+$' } as const;

export const REVIEW_ROUTES: readonly RouteSpec[] = [
  {
    method: 'GET', url: '/api/v1/requests/:id/review', operationId: 'reviewRequest', summary: 'Review a request before deciding: signatures verified again, age, package, component template, policy verdict', roles: READERS,
    params: { type: 'object', additionalProperties: false, properties: { id }, required: ['id'] },
    handler: async ({ deps, params }) => {
      const r = await reviewRequest(deps, params.id as RequestId);
      const names = createNames(deps.store);
      return {
        body: {
          request: await requestView(r.request, names),
          signatures: r.signatures,
          signedWithCertificate: r.signedWithCertificate,
          ageSeconds: r.ageSeconds,
          expired: r.isExpired,
          package: r.package ? await packageView(r.package, names) : null,
          component: r.component ? componentView(r.component) : null,
        },
      };
    },
  },
  {
    method: 'GET', url: '/api/v1/devices/:deviceId/history', operationId: 'getDeviceHistory', summary: 'A device\'s history: every request it made (newest first) and the audit entries about it and them (oldest first)', roles: READERS,
    params: { type: 'object', additionalProperties: false, properties: { deviceId: id }, required: ['deviceId'] },
    handler: async ({ deps, params }) => {
      const h = await readDeviceHistory(deps, params.deviceId as DeviceIdText);
      const names = createNames(deps.store);
      return { body: { requests: await Promise.all(h.requests.map((r) => requestView(r, names))), events: h.events.map(auditView), truncated: h.truncated } };
    },
  },
  {
    method: 'GET', url: '/api/v1/devices/:deviceId/trace', operationId: 'getDeviceTrace',
    summary: 'The trace of one request of a device for the flow visualizer\'s replay — its current request, or ?request=ID (one of its own requests, else 404 request_not_found): the request file as received, its CSR (base64 DER), the certificates (base64 DER) and the certified profile as delivered, step times, who decided, transport and gateway; the audit entries about the request and device from the request\'s first entry up to the next request\'s first entry, with their chain hashes (the same entries the device history shows). Public bytes and fingerprints only',
    roles: READERS,
    params: { type: 'object', additionalProperties: false, properties: { deviceId: id }, required: ['deviceId'] },
    query: { type: 'object', additionalProperties: false, properties: { request: id } },
    handler: async ({ deps, params, query }) => {
      const t = await readDeviceTrace(deps, params.deviceId as DeviceIdText, query.request as string | undefined);
      const names = createNames(deps.store);
      return {
        body: {
          device: await deviceView(t.device, names),
          request: { ...(await requestView(t.request, names)), decidedBy: t.decidedBy, file: requestFileText(t.request) },
          csr: t.csr.toString('base64'),
          certificates: t.certificates.map((c) => ({ ...certificateView(c), der: c.der.toString('base64') })),
          profile: t.profile ? { createdAt: t.profile.createdAt.toISOString(), file: t.profile.content.toString('utf8') } : null,
          events: t.events.map(auditView),
          truncated: t.truncated,
        },
        headers: { 'cache-control': 'no-store' },
      };
    },
  },
  {
    method: 'POST', url: '/api/v1/requests/approve', operationId: 'approveRequests', summary: 'Approve many requests: one verdict per id (approved, or the code that refused it)', roles: APPROVER_ROLES,
    admission: true,
    body: {
      type: 'object', additionalProperties: false, required: ['requestIds'],
      properties: { requestIds: { type: 'array', minItems: 1, maxItems: MAX_APPROVE_MANY, uniqueItems: true, items: id } },
    },
    handler: async (ctx) => {
      if (!ctx.actor) throw new ServiceError('unauthenticated', 'this route needs an API token or a session');
      const verdicts = await approveMany(ctx.deps, ctx.actor as Actor, (ctx.body as { requestIds: RequestId[] }).requestIds);
      const names = createNames(ctx.deps.store);
      const items = await Promise.all(verdicts.map(async (v) => (v.ok
        ? { requestId: v.requestId, ok: true, request: await requestView(v.request, names), certificate: { serial: certificateView(v.certificate).serial } }
        : v)));
      return { body: { approved: verdicts.filter((v) => v.ok).length, refused: verdicts.filter((v) => !v.ok).length, items } };
    },
  },
];

/**
 * The request file as text: a signed request or renewal JWS as received; for an enrollment with a
 * token or pairing code, or by a standard protocol, whose stored bytes are the CSR's DER, their base64.
 */
function requestFileText(r: RequestRecord): string {
  return r.enrollment || r.protocol ? r.raw.toString('base64') : r.raw.toString('utf8');
}
