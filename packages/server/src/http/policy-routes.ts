/** Approval policies (docs/service.md "Approval policies"): set by admins, read by READERS. */
import { getApprovalPolicy, setApprovalPolicy, TRANSPORTS } from '../domain/approval-policy.js';
import type { Actor } from '../domain/deps.js';
import { ServiceError } from '../domain/errors.js';
import type { ApprovalMode, ApprovalPolicyRecord, ComponentRecord, PolicyRules, Role, SystemRecord } from '../domain/model.js';
import type { RouteContext, RouteSpec } from './route.js';

const READERS: readonly Role[] = ['admin', 'approver', 'auditor'];
const name = { type: 'string', minLength: 1, maxLength: 64 } as const;
const obj = (properties: Record<string, unknown>, required: string[] = []) => ({ type: 'object', additionalProperties: false, properties, required });
const strings = { type: 'array', minItems: 1, maxItems: 1000, items: { type: 'string', minLength: 1, maxLength: 128 } } as const;

const policyBody = obj(
  {
    mode: { type: 'string', enum: ['manual', 'automatic'] },
    rules: obj({
      deviceIdPattern: { type: 'string', minLength: 2, maxLength: 200 },
      serialAllowList: strings,
      transports: { type: 'array', minItems: 1, maxItems: 3, items: { type: 'string', enum: [...TRANSPORTS] } },
      maxPerHour: { type: 'integer', minimum: 1, maximum: 1_000_000 },
      packageIds: strings,
    }),
  },
  ['mode'],
);

function actorOf(ctx: RouteContext): Actor {
  if (!ctx.actor) throw new ServiceError('unauthenticated', 'this route needs an API token');
  return ctx.actor;
}

const iso = (d: Date) => d.toISOString();

async function policyView(p: ApprovalPolicyRecord | null, system: SystemRecord, component: ComponentRecord | null, ctx: RouteContext) {
  if (!p) return null;
  const users = async (id: string) => (await ctx.deps.store.findUserById(id as ApprovalPolicyRecord['createdBy']))?.username ?? null;
  return {
    system: system.name,
    component: p.componentId === null ? null : component?.name ?? null,
    scope: p.componentId === null ? 'system' : 'component',
    mode: p.mode,
    rules: p.rules,
    createdAt: iso(p.createdAt),
    createdBy: await users(p.createdBy),
    updatedAt: iso(p.updatedAt),
    updatedBy: await users(p.updatedBy),
  };
}

async function show(ctx: RouteContext, component?: string) {
  const r = await getApprovalPolicy(ctx.deps, { system: ctx.params.system as string, ...(component !== undefined ? { component } : {}) });
  const effectiveComponent = r.effective?.componentId ? r.component : null;
  return {
    body: {
      system: r.system.name,
      component: r.component?.name ?? null,
      policy: await policyView(r.policy, r.system, r.component, ctx),
      /** What applies here: this scope's policy, else the system's; null means manual (the default). */
      effective: await policyView(r.effective, r.system, effectiveComponent, ctx),
      effectiveMode: r.effective?.mode ?? 'manual',
    },
  };
}

async function set(ctx: RouteContext, component?: string) {
  const b = ctx.body as { mode: ApprovalMode; rules?: PolicyRules };
  const scope = { system: ctx.params.system as string, ...(component !== undefined ? { component } : {}) };
  const r = await setApprovalPolicy(ctx.deps, actorOf(ctx), { ...scope, mode: b.mode, rules: b.rules ?? {} });
  return { body: await policyView(r.policy, r.system, r.component, ctx) };
}

export const POLICY_ROUTES: readonly RouteSpec[] = [
  {
    method: 'POST', url: '/api/v1/systems/:system/policy', operationId: 'setSystemPolicy', summary: 'Set (replace) the approval policy of a system', roles: ['admin'],
    params: obj({ system: name }, ['system']),
    body: policyBody,
    handler: (ctx) => set(ctx),
  },
  {
    method: 'GET', url: '/api/v1/systems/:system/policy', operationId: 'getSystemPolicy', summary: 'Show the approval policy of a system', roles: READERS,
    params: obj({ system: name }, ['system']),
    handler: (ctx) => show(ctx),
  },
  {
    method: 'POST', url: '/api/v1/systems/:system/components/:component/policy', operationId: 'setComponentPolicy', summary: 'Set (replace) the approval policy of a component (overrides its system\'s)', roles: ['admin'],
    params: obj({ system: name, component: name }, ['system', 'component']),
    body: policyBody,
    handler: (ctx) => set(ctx, ctx.params.component as string),
  },
  {
    method: 'GET', url: '/api/v1/systems/:system/components/:component/policy', operationId: 'getComponentPolicy', summary: 'Show the approval policy of a component and the one in effect', roles: READERS,
    params: obj({ system: name, component: name }, ['system', 'component']),
    handler: (ctx) => show(ctx, ctx.params.component as string),
  },
];
