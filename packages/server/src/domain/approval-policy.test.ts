import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type PolicySubject, evaluatePolicy, validatePolicy } from './approval-policy.js';
import { ServiceError } from './errors.js';
import type { ApprovalMode, PolicyRules } from './model.js';

const subject: PolicySubject = { deviceId: 'ZM-0042', hardwareSerial: 'SN-42', transport: 'upload', packageId: 'pkg_1' };
const auto = (rules: PolicyRules) => ({ mode: 'automatic' as const, rules });

describe('evaluatePolicy', () => {
  const cases: Array<{ name: string; policy: Parameters<typeof evaluatePolicy>[0]; request?: Partial<PolicySubject>; count?: number; decision: 'approve' | 'manual'; rule: string; reason: RegExp }> = [
    { name: 'ok/policy/all-rules-pass', policy: auto({ deviceIdPattern: '^ZM-[0-9]{4}$', serialAllowList: ['SN-42'], transports: ['upload', 'connected'], maxPerHour: 3, packageIds: ['pkg_1'] }), count: 2, decision: 'approve', rule: 'packageIds+transports+deviceIdPattern+serialAllowList+maxPerHour', reason: /passed/ },
    { name: 'ok/policy/one-rule', policy: auto({ transports: ['upload'] }), decision: 'approve', rule: 'transports', reason: /rules transports passed/ },
    { name: 'ok/policy/no-policy-is-manual', policy: null, decision: 'manual', rule: 'default', reason: /no approval policy/ },
    { name: 'ok/policy/manual-mode', policy: { mode: 'manual', rules: { transports: ['upload'] } }, decision: 'manual', rule: 'mode', reason: /manual/ },
    { name: 'fail/policy/automatic-without-rules', policy: auto({}), decision: 'manual', rule: 'mode', reason: /without rules/ },
    { name: 'fail/policy/serial-not-listed', policy: auto({ serialAllowList: ['SN-1'] }), request: { hardwareSerial: 'SN-9' }, decision: 'manual', rule: 'serialAllowList', reason: /^rule serialAllowList did not match: SN-9 not listed$/ },
    { name: 'fail/policy/no-serial', policy: auto({ serialAllowList: ['SN-1'] }), request: { hardwareSerial: null }, decision: 'manual', rule: 'serialAllowList', reason: /no hardware serial/ },
    { name: 'fail/policy/device-id-pattern', policy: auto({ deviceIdPattern: '^ZM-[0-9]{4}$' }), request: { deviceId: 'ZM-42x' }, decision: 'manual', rule: 'deviceIdPattern', reason: /ZM-42x does not match/ },
    { name: 'fail/policy/pattern-is-anchored', policy: auto({ deviceIdPattern: '^ZM-[0-9]+$' }), request: { deviceId: 'xZM-1' }, decision: 'manual', rule: 'deviceIdPattern', reason: /does not match/ },
    { name: 'fail/policy/transport', policy: auto({ transports: ['connected'] }), decision: 'manual', rule: 'transports', reason: /transport upload not allowed/ },
    { name: 'fail/policy/package', policy: auto({ packageIds: ['pkg_2'] }), decision: 'manual', rule: 'packageIds', reason: /package pkg_1 not listed/ },
    { name: 'fail/policy/cap-reached', policy: auto({ maxPerHour: 2 }), count: 2, decision: 'manual', rule: 'maxPerHour', reason: /2 automatic approvals in the last hour reached the cap of 2/ },
    { name: 'fail/policy/first-failing-rule-decides', policy: auto({ transports: ['connected'], serialAllowList: ['SN-1'] }), decision: 'manual', rule: 'transports', reason: /transport/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const v = evaluatePolicy(c.policy, { ...subject, ...c.request }, c.count ?? 0);
      assert.equal(v.decision, c.decision);
      assert.equal(v.rule, c.rule);
      assert.match(v.reason, c.reason);
    });
  }
});

describe('validatePolicy', () => {
  const ok: Array<[string, ApprovalMode, PolicyRules]> = [
    ['ok/policy/valid-automatic', 'automatic', { deviceIdPattern: '^ZM-[0-9]+$', serialAllowList: ['a', 'a'], transports: ['proxy'], maxPerHour: 10, packageIds: ['p'] }],
    ['ok/policy/manual-without-rules', 'manual', {}],
  ];
  for (const [name, mode, rules] of ok) it(name, () => assert.doesNotThrow(() => validatePolicy(mode, rules)));
  it('ok/policy/lists-deduplicated', () => assert.deepEqual(validatePolicy('automatic', { serialAllowList: ['a', 'a'] }).serialAllowList, ['a']));

  const bad: Array<[string, PolicyRules, RegExp]> = [
    ['fail/policy/unanchored-pattern', { deviceIdPattern: 'ZM-.*' }, /anchored/],
    ['fail/policy/bad-regex', { deviceIdPattern: '^ZM-[$' }, /not a valid regular expression/],
    ['fail/policy/backreference', { deviceIdPattern: '^(a)\\1$' }, /backreferences/],
    ['fail/policy/long-pattern', { deviceIdPattern: `^${'a'.repeat(300)}$` }, /1 to 200/],
    ['fail/policy/empty-serials', { serialAllowList: [] }, /serialAllowList must list/],
    ['fail/policy/unknown-transport', { transports: ['carrier-pigeon' as never] }, /transports/],
    ['fail/policy/zero-cap', { maxPerHour: 0 }, /maxPerHour/],
    ['fail/policy/automatic-without-rules', {}, /at least one rule/],
  ];
  for (const [name, rules, message] of bad) {
    it(name, () => assert.throws(() => validatePolicy('automatic', rules), (e: unknown) => e instanceof ServiceError && e.code === 'policy_invalid' && message.test(e.message)));
  }
});
