/**
 * Lifecycle routes (docs/lifecycle.md): a device renews its certificate over mutual TLS with its
 * current one; an admin sets a component's renewal grace period. The install of a renewed
 * certificate is confirmed on the usual POST /api/v1/device/confirm (routes.ts).
 */
import type { Actor } from '../domain/deps.js';
import { ServiceError } from '../domain/errors.js';
import { renewDevice, reprovisionDevice } from '../domain/lifecycle.js';
import { updateComponentRenewalGrace } from '../domain/systems.js';
import type { RouteContext, RouteSpec } from './route.js';
import { componentView } from './views.js';

const PROFILE_MEDIA = 'application/vnd.provisio.profile+json';
const name = { type: 'string', minLength: 1, maxLength: 64 } as const;
const obj = (properties: Record<string, unknown>, required: string[] = []) => ({ type: 'object', additionalProperties: false, properties, required });

function actorOf(ctx: RouteContext): Actor {
  if (!ctx.actor) throw new ServiceError('unauthenticated', 'this route needs an API token');
  return ctx.actor;
}

export const LIFECYCLE_ROUTES: readonly RouteSpec[] = [
  {
    method: 'POST', url: '/api/v1/device/renew', operationId: 'deviceRenew',
    summary: 'A device renews its certificate over mutual TLS with its current one (an expired one within the component\'s grace period): answers the new certified profile',
    // 'public' as to tokens: the client certificate and the renewal request's signature by its
    // key authenticate the device (domain/lifecycle.ts).
    roles: 'public',
    clientCertificate: true,
    admission: true,
    body: obj({ renewal: { type: 'string', minLength: 1, maxLength: 32 * 1024 } }, ['renewal']),
    handler: async (ctx) => {
      const result = await renewDevice(ctx.deps, { presented: ctx.clientCertificates ?? [], renewal: (ctx.body as { renewal: string }).renewal });
      return {
        status: result.created ? 201 : 200,
        body: result.profile,
        contentType: PROFILE_MEDIA,
        headers: { 'x-request-id': result.request.id, 'x-certificate-serial': result.certificate.serial },
      };
    },
  },
  {
    method: 'POST', url: '/api/v1/device/reprovision', operationId: 'deviceReprovision',
    summary: 'A provisioned device asks over mutual TLS for a fresh profile with its current identity; it goes through the component\'s approval policy (fetch it like a provisioning request\'s profile)',
    roles: 'public',
    clientCertificate: true,
    admission: true,
    body: obj({ reprovision: { type: 'string', minLength: 1, maxLength: 32 * 1024 } }, ['reprovision']),
    handler: async (ctx) => {
      const { request, created } = await reprovisionDevice(ctx.deps, { presented: ctx.clientCertificates ?? [], request: (ctx.body as { reprovision: string }).reprovision });
      return { status: created ? 201 : 200, body: { request: { id: request.id, state: request.state, kind: request.kind } } };
    },
  },
  {
    method: 'POST', url: '/api/v1/systems/:system/components/:component', operationId: 'updateComponent',
    summary: 'Change a component\'s settings: renewalGraceDays (days after expiry its devices may still renew, 0-90)', roles: ['admin'],
    params: obj({ system: name, component: name }, ['system', 'component']),
    body: obj({ renewalGraceDays: { type: 'integer', minimum: 0, maximum: 90 } }, ['renewalGraceDays']),
    handler: async (ctx) => {
      const b = ctx.body as { renewalGraceDays: number };
      const component = await updateComponentRenewalGrace(ctx.deps, actorOf(ctx), {
        system: ctx.params.system as string,
        name: ctx.params.component as string,
        renewalGraceDays: b.renewalGraceDays,
      });
      return { body: componentView(component) };
    },
  },
];
