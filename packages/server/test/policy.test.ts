/**
 * Approval policies through the API: automatic approval of a matching upload, the reason a
 * request stays pending, the cap per hour (counted from the database), a component's policy
 * overriding its system's, and invalid policies refused with codes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseCertifiedProfile } from '@provisio/protocol';
import { REQUEST_MEDIA, type TestService, makeRequest, setUpSystem, startTestService } from './service-harness.js';

describe('approval policies (SQLite)', () => {
  let t: TestService;

  before(async () => {
    t = await startTestService();
  });
  after(async () => t.close());

  const upload = async (packageText: string, deviceId: string) => {
    const { text } = await makeRequest(packageText, deviceId);
    const r = await t.call('POST', '/api/v1/requests', { raw: Buffer.from(text), contentType: REQUEST_MEDIA });
    assert.equal(r.status, 201, r.body.toString());
    return r.json().request as Record<string, string | null>;
  };
  const setPolicy = async (system: string, body: unknown, component?: string) => {
    const path = component
      ? `/api/v1/systems/${encodeURIComponent(system)}/components/${encodeURIComponent(component)}/policy`
      : `/api/v1/systems/${encodeURIComponent(system)}/policy`;
    const r = await t.call('POST', path, { json: body });
    assert.equal(r.status, 200, r.body.toString());
    return r.json();
  };

  it('ok/policy/automatic-approval-of-a-matching-upload', async () => {
    const { packageText } = await setUpSystem(t, 'AutoSys', 'monitor');
    const policy = await setPolicy('AutoSys', { mode: 'automatic', rules: { deviceIdPattern: '^ZM-[0-9]+$', transports: ['upload'] } });
    assert.equal(policy.mode, 'automatic');
    assert.equal(policy.scope, 'system');
    assert.equal(policy.createdBy, 'admin');

    const request = await upload(packageText, 'ZM-1');
    assert.equal(request.state, 'approved');
    assert.equal(request.policyDecision, 'approve');
    assert.equal(request.policyRule, 'transports+deviceIdPattern');
    assert.match(String(request.policyReason), /passed/);

    const profile = await t.call('GET', `/api/v1/requests/${request.id}/profile`);
    assert.equal(profile.status, 200, profile.body.toString());
    assert.equal(parseCertifiedProfile(profile.body.toString('utf8')).payload.deviceId, 'ZM-1');
    const shown = (await t.call('GET', `/api/v1/requests/${request.id}`)).json();
    assert.equal(shown.policyRule, 'transports+deviceIdPattern');

    const audit = (await t.call('GET', `/api/v1/audit?target=${request.id}`)).json().items as Array<{ action: string; actor: string; details: Record<string, unknown> }>;
    const auto = audit.find((e) => e.action === 'request.auto_approve');
    assert.ok(auto, JSON.stringify(audit));
    assert.equal(auto.actor, 'system');
    assert.equal(auto.details.rule, 'transports+deviceIdPattern');
    const submit = audit.find((e) => e.action === 'request.submit');
    assert.equal((submit?.details.policy as { decision: string }).decision, 'approve');
    assert.equal((await t.call('GET', '/api/v1/audit/verify')).json().ok, true);
  });

  it('ok/policy/non-matching-stays-pending-with-the-reason', async () => {
    const { packageText } = await setUpSystem(t, 'SerialSys', 'monitor');
    await setPolicy('SerialSys', { mode: 'automatic', rules: { serialAllowList: ['SN-S-1'] } });
    const listed = await upload(packageText, 'S-1');
    assert.equal(listed.state, 'approved');
    const request = await upload(packageText, 'S-9');
    assert.equal(request.state, 'pending');
    assert.equal(request.policyDecision, 'manual');
    assert.equal(request.policyRule, 'serialAllowList');
    assert.equal(request.policyReason, 'rule serialAllowList did not match: SN-S-9 not listed');
    const audit = (await t.call('GET', `/api/v1/audit?target=${request.id}&action=request.submit`)).json().items[0];
    assert.equal(audit.details.policy.reason, 'rule serialAllowList did not match: SN-S-9 not listed');
    // An approver still approves it by hand.
    const r = await t.call('POST', `/api/v1/requests/${request.id}/approve`);
    assert.equal(r.status, 200, r.body.toString());
  });

  it('ok/policy/no-policy-is-manual', async () => {
    const { packageText } = await setUpSystem(t, 'PlainSys', 'monitor');
    const request = await upload(packageText, 'P-1');
    assert.equal(request.state, 'pending');
    assert.equal(request.policyRule, 'default');
    const shown = (await t.call('GET', '/api/v1/systems/PlainSys/policy')).json();
    assert.equal(shown.policy, null);
    assert.equal(shown.effectiveMode, 'manual');
  });

  it('ok/policy/cap-per-hour-third-stays-pending', async () => {
    const { packageText } = await setUpSystem(t, 'CapSys', 'monitor');
    await setPolicy('CapSys', { mode: 'automatic', rules: { maxPerHour: 2 } });
    const states = [];
    for (const id of ['C-1', 'C-2', 'C-3']) states.push(await upload(packageText, id));
    assert.deepEqual(states.map((r) => r.state), ['approved', 'approved', 'pending']);
    assert.equal(states[2]?.policyRule, 'maxPerHour');
    assert.match(String(states[2]?.policyReason), /reached the cap of 2/);
  });

  it('ok/policy/component-policy-overrides-system-policy', async () => {
    const { packageText } = await setUpSystem(t, 'MixSys', 'monitor');
    let r = await t.call('POST', '/api/v1/systems/MixSys/components', { json: { name: 'gateway', keyTypes: ['p256'] } });
    assert.equal(r.status, 201, r.body.toString());
    await setPolicy('MixSys', { mode: 'automatic', rules: { transports: ['upload'] } });
    const component = await setPolicy('MixSys', { mode: 'manual' }, 'monitor');
    assert.equal(component.scope, 'component');
    assert.equal(component.component, 'monitor');

    const manual = await upload(packageText, 'M-1'); // component "monitor": its own manual policy
    assert.equal(manual.state, 'pending');
    assert.equal(manual.policyRule, 'mode');
    const { text } = await makeRequest(packageText, 'G-1', { component: 'gateway' }); // falls back to the system's
    r = await t.call('POST', '/api/v1/requests', { raw: Buffer.from(text), contentType: REQUEST_MEDIA });
    assert.equal(r.status, 201, r.body.toString());
    assert.equal(r.json().request.state, 'approved');

    const shown = (await t.call('GET', '/api/v1/systems/MixSys/components/monitor/policy')).json();
    assert.equal(shown.policy.mode, 'manual');
    assert.equal(shown.effective.scope, 'component');
    const gateway = (await t.call('GET', '/api/v1/systems/MixSys/components/gateway/policy')).json();
    assert.equal(gateway.policy, null);
    assert.equal(gateway.effective.scope, 'system');
    assert.equal(gateway.effectiveMode, 'automatic');

    // Setting again replaces the policy of that scope.
    const replaced = await setPolicy('MixSys', { mode: 'automatic', rules: { maxPerHour: 5 } }, 'monitor');
    assert.deepEqual(replaced.rules, { maxPerHour: 5 });
  });

  it('fail/policy/invalid-bodies-refused-with-codes', async () => {
    await setUpSystem(t, 'BadSys', 'monitor');
    const cases: Array<[unknown, number, string, string?]> = [
      [{ mode: 'automatic' }, 400, 'policy_invalid'],
      [{ mode: 'automatic', rules: { deviceIdPattern: 'ZM-.*' } }, 400, 'policy_invalid'],
      [{ mode: 'automatic', rules: { deviceIdPattern: '^ZM-[$' } }, 400, 'policy_invalid'],
      [{ mode: 'sometimes' }, 400, 'validation_failed'],
      [{ mode: 'automatic', rules: { transports: ['pigeon'] } }, 400, 'validation_failed'],
      [{ mode: 'automatic', rules: { maxPerHour: 0 } }, 400, 'validation_failed'],
      [{ mode: 'automatic', rules: { serialAllowList: [] } }, 400, 'validation_failed'],
      [{ mode: 'automatic', rules: { colour: 'red' } }, 400, 'validation_failed'],
      [{ mode: 'manual' }, 404, 'component_not_found', 'nope'],
    ];
    for (const [body, status, code, component] of cases) {
      const path = component ? `/api/v1/systems/BadSys/components/${component}/policy` : '/api/v1/systems/BadSys/policy';
      const r = await t.call('POST', path, { json: body });
      assert.ok(r.status === status || (status === 400 && r.status === 422), `${JSON.stringify(body)}: ${r.status} ${r.body}`);
      assert.equal(r.json().error.code, code, `${JSON.stringify(body)}: ${r.body}`);
    }
    const r = await t.call('POST', '/api/v1/systems/NoSuchSys/policy', { json: { mode: 'manual' } });
    assert.equal(r.json().error.code, 'system_not_found');
    assert.equal((await t.call('GET', '/api/v1/systems/BadSys/policy')).json().policy, null, 'nothing was saved');
  });
});
