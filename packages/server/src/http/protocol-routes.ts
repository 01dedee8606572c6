/**
 * The protocol switch (docs/protocols.md): which standard enrollment protocols a system or a
 * component accepts. Admins change it; every reader may see it.
 */
import type { Actor } from '../domain/deps.js';
import { ServiceError } from '../domain/errors.js';
import { ENROLLMENT_PROTOCOLS, type EnrollmentProtocol, type Role } from '../domain/model.js';
import { listProtocols, setProtocol } from '../domain/protocols.js';
import type { RouteContext, RouteSpec } from './route.js';

const name = { type: 'string', minLength: 1, maxLength: 64 } as const;
const obj = (properties: Record<string, unknown>, required: string[] = []) => ({ type: 'object', additionalProperties: false, properties, required });
const READERS: readonly Role[] = ['admin', 'approver', 'auditor'];

function actorOf(ctx: RouteContext): Actor {
  if (!ctx.actor) throw new ServiceError('unauthenticated', 'this route needs an API token');
  return ctx.actor;
}

export const PROTOCOL_ROUTES: readonly RouteSpec[] = [
  {
    method: 'GET', url: '/api/v1/protocols', operationId: 'listProtocols',
    summary: 'List the enrollment protocols (EST, CMP, SCEP) switched on, per system or component', roles: READERS,
    query: obj({ system: name }),
    handler: async (ctx) => ({ body: { items: await listProtocols(ctx.deps, { system: ctx.query.system as string | undefined }) } }),
  },
  {
    method: 'POST', url: '/api/v1/systems/:system/protocols', operationId: 'setProtocol',
    summary: 'Switch an enrollment protocol on or off for a system (all its components) or one component', roles: ['admin'],
    params: obj({ system: name }, ['system']),
    body: obj({ protocol: { type: 'string', enum: [...ENROLLMENT_PROTOCOLS] }, component: name, enabled: { type: 'boolean' } }, ['protocol', 'enabled']),
    handler: async (ctx) => {
      const b = ctx.body as { protocol: EnrollmentProtocol; component?: string; enabled: boolean };
      const { changed } = await setProtocol(ctx.deps, actorOf(ctx), { system: ctx.params.system as string, component: b.component, protocol: b.protocol, enabled: b.enabled });
      const items = await listProtocols(ctx.deps, { system: ctx.params.system as string });
      return { body: { changed, items } };
    },
  },
];
