/**
 * Approval policies (docs/service.md "Approval policies"): per system, or per component (the
 * component's policy wins over its system's). Mode 'manual' (the default, also when no policy
 * exists) leaves every request to an approver; 'automatic' approves a request when every rule
 * that is set passes. `evaluatePolicy` is pure; the cap per hour is counted by the caller from the
 * database, so it holds across restarts and across several service nodes.
 */
import { type Actor, type ServiceDeps, actorName, newId } from './deps.js';
import { ServiceError } from './errors.js';
import type {
  ApprovalMode,
  ApprovalPolicyRecord,
  ComponentRecord,
  PolicyRules,
  PolicyVerdict,
  SystemRecord,
  Transport,
  UserId,
} from './model.js';
import { StoreConflict } from './store.js';
import { requireComponent, requireSystem } from './systems.js';

export const TRANSPORTS: readonly Transport[] = ['upload', 'connected', 'proxy'];
export const MAX_PATTERN_LENGTH = 200;
export const MAX_LIST_ITEMS = 1000;
export const MAX_PER_HOUR = 1_000_000;

/** What of a request the policy looks at. */
export interface PolicySubject {
  readonly deviceId: string;
  readonly hardwareSerial: string | null;
  readonly transport: Transport;
  /** Null for a request made with an enrollment token or pairing code (no package signed it). */
  readonly packageId: string | null;
}

/** The rules in the order they are checked; the first that fails decides. */
const RULE_ORDER = ['packageIds', 'transports', 'deviceIdPattern', 'serialAllowList', 'maxPerHour'] as const;

/**
 * The policy's verdict on one request. `countLastHour` is the number of automatic approvals in
 * the policy's scope within the last hour (only read when the policy sets maxPerHour).
 */
export function evaluatePolicy(policy: Pick<ApprovalPolicyRecord, 'mode' | 'rules'> | null, request: PolicySubject, countLastHour: number): PolicyVerdict {
  if (!policy) return { decision: 'manual', rule: 'default', reason: 'no approval policy: manual approval' };
  if (policy.mode === 'manual') return { decision: 'manual', rule: 'mode', reason: 'policy mode is manual' };
  const r = policy.rules;
  const passed: string[] = [];
  for (const rule of RULE_ORDER) {
    const failure = checkRule(rule, r, request, countLastHour);
    if (failure === undefined) continue; // not set
    if (failure !== null) return { decision: 'manual', rule, reason: `rule ${rule} did not match: ${failure}` };
    passed.push(rule);
  }
  if (passed.length === 0) return { decision: 'manual', rule: 'mode', reason: 'automatic policy without rules: manual approval' };
  return { decision: 'approve', rule: passed.join('+'), reason: `rules ${passed.join(', ')} passed` };
}

/** undefined: the rule is not set; null: it passed; a string: why it failed. */
function checkRule(rule: (typeof RULE_ORDER)[number], r: PolicyRules, q: PolicySubject, countLastHour: number): string | null | undefined {
  switch (rule) {
    case 'packageIds':
      if (!r.packageIds) return undefined;
      if (q.packageId === null) return 'the request was made without a package (enrollment token or pairing code)';
      return r.packageIds.includes(q.packageId) ? null : `package ${q.packageId} not listed`;
    case 'transports':
      if (!r.transports) return undefined;
      return r.transports.includes(q.transport) ? null : `transport ${q.transport} not allowed (${r.transports.join(', ')})`;
    case 'deviceIdPattern':
      if (r.deviceIdPattern === undefined) return undefined;
      return compilePattern(r.deviceIdPattern).test(q.deviceId) ? null : `${q.deviceId} does not match ${r.deviceIdPattern}`;
    case 'serialAllowList':
      if (!r.serialAllowList) return undefined;
      if (q.hardwareSerial === null) return 'the request carries no hardware serial';
      return r.serialAllowList.includes(q.hardwareSerial) ? null : `${q.hardwareSerial} not listed`;
    case 'maxPerHour':
      if (r.maxPerHour === undefined) return undefined;
      return countLastHour < r.maxPerHour ? null : `${countLastHour} automatic approvals in the last hour reached the cap of ${r.maxPerHour}`;
  }
}

function compilePattern(pattern: string): RegExp {
  return new RegExp(pattern, 'u');
}

/**
 * What is wrong with a device id pattern (null: nothing): 1 to 200 characters, anchored (^…$),
 * no backreferences, a valid regular expression. Shared by policies and enrollment tokens.
 */
export function deviceIdPatternProblem(p: unknown): string | null {
  if (typeof p !== 'string' || p.length === 0 || p.length > MAX_PATTERN_LENGTH) return `must be 1 to ${MAX_PATTERN_LENGTH} characters`;
  if (!p.startsWith('^') || !p.endsWith('$')) return `must be anchored: start with ^ and end with $ (got ${p})`;
  if (/\\[1-9k]/.test(p)) return 'must not use backreferences';
  try {
    compilePattern(p);
  } catch (e) {
    return `is not a valid regular expression: ${(e as Error).message}`;
  }
  return null;
}

/** Whether `deviceId` matches a pattern that passed deviceIdPatternProblem. */
export function matchesDeviceIdPattern(pattern: string, deviceId: string): boolean {
  return compilePattern(pattern).test(deviceId);
}

/** Checks mode and rules beyond the API schema; throws `policy_invalid` saying what is wrong. */
export function validatePolicy(mode: ApprovalMode, rules: PolicyRules): PolicyRules {
  const invalid = (message: string) => new ServiceError('policy_invalid', message);
  if (mode !== 'manual' && mode !== 'automatic') throw invalid(`mode must be manual or automatic; got "${String(mode)}"`);
  const out: { -readonly [K in keyof PolicyRules]: PolicyRules[K] } = {};
  if (rules.deviceIdPattern !== undefined) {
    const problem = deviceIdPatternProblem(rules.deviceIdPattern);
    if (problem !== null) throw invalid(`deviceIdPattern ${problem}`);
    out.deviceIdPattern = rules.deviceIdPattern;
  }
  const list = (key: 'serialAllowList' | 'packageIds', value: readonly string[] | undefined) => {
    if (value === undefined) return undefined;
    if (!Array.isArray(value) || value.length === 0 || value.length > MAX_LIST_ITEMS) throw invalid(`${key} must list 1 to ${MAX_LIST_ITEMS} values`);
    for (const v of value) if (typeof v !== 'string' || v.length === 0 || v.length > 128) throw invalid(`${key} values must be 1 to 128 characters`);
    return [...new Set(value)];
  };
  const serials = list('serialAllowList', rules.serialAllowList);
  if (serials) out.serialAllowList = serials;
  const packages = list('packageIds', rules.packageIds);
  if (packages) out.packageIds = packages;
  if (rules.transports !== undefined) {
    if (!Array.isArray(rules.transports) || rules.transports.length === 0 || rules.transports.some((t) => !TRANSPORTS.includes(t))) {
      throw invalid(`transports must be a non-empty subset of ${TRANSPORTS.join(', ')}`);
    }
    out.transports = [...new Set(rules.transports)];
  }
  if (rules.maxPerHour !== undefined) {
    if (!Number.isInteger(rules.maxPerHour) || rules.maxPerHour < 1 || rules.maxPerHour > MAX_PER_HOUR) throw invalid(`maxPerHour must be a whole number from 1 to ${MAX_PER_HOUR}`);
    out.maxPerHour = rules.maxPerHour;
  }
  if (mode === 'automatic' && Object.keys(out).length === 0) {
    throw invalid('an automatic policy needs at least one rule (deviceIdPattern, serialAllowList, transports, maxPerHour or packageIds)');
  }
  return out;
}

/** The policy that applies to a request of this component: its own, else its system's, else none. */
export async function effectivePolicy(deps: Pick<ServiceDeps, 'store'>, system: SystemRecord, component: ComponentRecord): Promise<ApprovalPolicyRecord | null> {
  return (await deps.store.findApprovalPolicy(system.id, component.id)) ?? (await deps.store.findApprovalPolicy(system.id, null));
}

export async function setApprovalPolicy(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'random'>,
  actor: Actor,
  input: { system: string; component?: string; mode: ApprovalMode; rules: PolicyRules },
): Promise<{ policy: ApprovalPolicyRecord; system: SystemRecord; component: ComponentRecord | null }> {
  const rules = validatePolicy(input.mode, input.rules);
  const system = await requireSystem(deps, input.system);
  const component = input.component !== undefined ? await requireComponent(deps, system, input.component) : null;
  const now = deps.clock.now();
  const record: ApprovalPolicyRecord = {
    id: newId(deps.random, 'pol'),
    systemId: system.id,
    componentId: component?.id ?? null,
    mode: input.mode,
    rules,
    createdAt: now,
    createdBy: actor.userId as UserId,
    updatedAt: now,
    updatedBy: actor.userId as UserId,
  };
  const save = () =>
    deps.store.transaction(async (tx) => {
      const saved = await tx.saveApprovalPolicy(record);
      await tx.appendAudit({
        at: now,
        actor: actorName(actor),
        action: 'policy.set',
        targetType: 'policy',
        targetId: component ? `${system.name}/${component.name}` : system.name,
        details: { mode: input.mode, rules: { ...rules } },
      });
      return saved;
    });
  let policy: ApprovalPolicyRecord;
  try {
    policy = await save();
  } catch (e) {
    // Two first saves of one scope at once: the loser updates the winner's row.
    if (!(e instanceof StoreConflict)) throw e;
    policy = await save();
  }
  return { policy, system, component };
}

/** The policy set at exactly this scope, and the one that applies there. */
export async function getApprovalPolicy(
  deps: Pick<ServiceDeps, 'store'>,
  input: { system: string; component?: string },
): Promise<{ system: SystemRecord; component: ComponentRecord | null; policy: ApprovalPolicyRecord | null; effective: ApprovalPolicyRecord | null }> {
  const system = await requireSystem(deps, input.system);
  const component = input.component !== undefined ? await requireComponent(deps, system, input.component) : null;
  const policy = await deps.store.findApprovalPolicy(system.id, component?.id ?? null);
  const effective = component ? await effectivePolicy(deps, system, component) : policy;
  return { system, component, policy, effective };
}
