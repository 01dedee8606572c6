/**
 * Proxy gateways (docs/proxy.md). Administrators register, list and revoke gateways with a token;
 * a gateway itself calls the /api/v1/gateway/* routes with no token, authenticated by its
 * certificate over mutual TLS (checked by authenticateGateway in each handler).
 */
import { encodePem } from '@provisio/pki';
import type { Actor } from '../domain/deps.js';
import { ServiceError } from '../domain/errors.js';
import {
  MAX_BATCH,
  authenticateGateway,
  confirmThroughGateway,
  createGateway,
  profilesForGateway,
  revokeGateway,
  submitThroughGateway,
} from '../domain/gateways.js';
import type { Role } from '../domain/model.js';
import type { RouteContext, RouteSpec } from './route.js';
import { gatewayView } from './views.js';

const READERS: readonly Role[] = ['admin', 'approver', 'auditor'];
const obj = (properties: Record<string, unknown>, required: string[] = []) => ({ type: 'object', additionalProperties: false, properties, required });
const gatewayName = { type: 'string', minLength: 1, maxLength: 63 } as const;
/** A request file is at most 64 KiB: its base64 is at most 87,384 characters. */
const base64Request = { type: 'string', minLength: 4, maxLength: 87_384 } as const;
const requestId = { type: 'string', minLength: 1, maxLength: 80, pattern: '^[A-Za-z0-9._:-]+$' } as const;
const base64Certificate = { type: 'string', minLength: 4, maxLength: 16_384 } as const;

function actorOf(ctx: RouteContext): Actor {
  if (!ctx.actor) throw new ServiceError('unauthenticated', 'this route needs an API token');
  return ctx.actor;
}

const gatewayOf = (ctx: RouteContext) => authenticateGateway(ctx.deps, ctx.clientCertificates ?? []);

export const GATEWAY_ROUTES: readonly RouteSpec[] = [
  {
    method: 'POST', url: '/api/v1/gateways', operationId: 'createGateway', summary: 'Register a proxy gateway: certify its key (CSR) for the hosts devices reach it by', roles: ['admin'],
    body: obj({
      name: gatewayName,
      csr: { type: 'string', minLength: 1, maxLength: 16_384 },
      hosts: { type: 'array', minItems: 1, maxItems: 16, items: { type: 'string', minLength: 1, maxLength: 253 } },
    }, ['name', 'csr', 'hosts']),
    handler: async (ctx) => {
      const b = ctx.body as { name: string; csr: string; hosts: string[] };
      const created = await createGateway(ctx.deps, actorOf(ctx), { name: b.name, csrPem: b.csr, hosts: b.hosts });
      return {
        status: 201,
        body: {
          gateway: gatewayView(created.gateway),
          certificate: encodePem('CERTIFICATE', created.certificate),
          chain: encodePem('CERTIFICATE', created.intermediate),
          root: encodePem('CERTIFICATE', created.root),
        },
      };
    },
  },
  {
    method: 'GET', url: '/api/v1/gateways', operationId: 'listGateways', summary: 'List proxy gateways', roles: READERS,
    handler: async ({ deps }) => ({ body: { items: (await deps.store.listGateways()).map(gatewayView) } }),
  },
  {
    method: 'POST', url: '/api/v1/gateways/:name/revoke', operationId: 'revokeGateway', summary: 'Revoke a proxy gateway and its certificate (RFC 5280 reason, default cessationOfOperation; CRL and OCSP report it): it opens no gateway route from now on', roles: ['admin'],
    params: obj({ name: gatewayName }, ['name']),
    // Optional: {"reason": "keyCompromise"}; without a body the reason is cessationOfOperation.
    handler: async (ctx) => {
      const b = ctx.body;
      const reason = b !== undefined && b !== null && typeof b === 'object' && !Array.isArray(b) ? (b as { reason?: unknown }).reason : undefined;
      if (b !== undefined && b !== null && (typeof b !== 'object' || Array.isArray(b) || Object.keys(b).some((k) => k !== 'reason') || (reason !== undefined && typeof reason !== 'string'))) {
        throw new ServiceError('validation_failed', 'send no body, or {"reason": "<RFC 5280 reason>"}');
      }
      return { body: gatewayView(await revokeGateway(ctx.deps, actorOf(ctx), ctx.params.name as string, ...(typeof reason === 'string' ? [reason] : []))) };
    },
  },
  // The gateway's own calls: 'public' as to tokens, authenticated by the gateway certificate.
  {
    method: 'POST', url: '/api/v1/gateway/requests', operationId: 'gatewaySubmitRequests', summary: 'A gateway forwards a batch of device request files (exact bytes, base64); each item gets its request id and state or its error', roles: 'public',
    admission: true,
    clientCertificate: true,
    bodyLimit: MAX_BATCH * 90_000,
    body: obj({ requests: { type: 'array', minItems: 1, maxItems: MAX_BATCH, items: base64Request } }, ['requests']),
    handler: async (ctx) => {
      const gateway = await gatewayOf(ctx);
      return { body: { results: await submitThroughGateway(ctx.deps, gateway, (ctx.body as { requests: string[] }).requests) } };
    },
  },
  {
    method: 'POST', url: '/api/v1/gateway/profiles', operationId: 'gatewayGetProfiles', summary: 'A gateway asks for the state of requests it carried, with each certified profile (exact bytes, base64) once approved', roles: 'public',
    admission: true,
    clientCertificate: true,
    body: obj({ ids: { type: 'array', minItems: 1, maxItems: MAX_BATCH, items: requestId } }, ['ids']),
    handler: async (ctx) => {
      const gateway = await gatewayOf(ctx);
      return { body: { results: await profilesForGateway(ctx.deps, gateway, (ctx.body as { ids: string[] }).ids) } };
    },
  },
  {
    method: 'POST', url: '/api/v1/gateway/confirm', operationId: 'gatewayConfirm', summary: 'A gateway forwards a device\'s install confirmation: its certificate chain and a proof signed by the device key', roles: 'public',
    admission: true,
    clientCertificate: true,
    body: obj({
      certificateChain: { type: 'array', minItems: 1, maxItems: 4, items: base64Certificate },
      proof: { type: 'string', minLength: 1, maxLength: 4096 },
    }, ['certificateChain', 'proof']),
    handler: async (ctx) => {
      const gateway = await gatewayOf(ctx);
      const view = await confirmThroughGateway(ctx.deps, gateway, ctx.body as { certificateChain: string[]; proof: string });
      return { body: { deviceId: view.device.deviceId, state: view.device.state } };
    },
  },
];
