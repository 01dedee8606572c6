/**
 * Editing a system (docs/web.md "Systems"): PATCH /api/v1/systems/{system} turns the acceptance
 * of mock device files on or off — admins only, audited with the old and new value, bad input
 * changes nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type TestService, startTestService } from './service-harness.js';

describe('system update', () => {
  let t: TestService;

  before(async () => {
    t = await startTestService({ webRoot: null });
    assert.equal((await t.call('POST', '/api/v1/systems', { json: { name: 'Lab' } })).status, 201);
    assert.equal((await t.call('POST', '/api/v1/systems/Lab/components', { json: { name: 'sensor' } })).status, 201);
  });
  after(() => t.close());

  const mocks = () => t.call('POST', '/api/v1/mock-devices', { json: { system: 'Lab', component: 'sensor', count: 1 } });
  const updates = async () => (await t.call('GET', '/api/v1/audit?action=system.update')).json().items as { targetId: string; details: unknown }[];

  it('ok/allow-mock/off-refuses-mock-files-audited', async () => {
    assert.equal((await mocks()).status, 201, 'a new system accepts mock device files');
    const r = await t.call('PATCH', '/api/v1/systems/Lab', { json: { allowMock: false } });
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.json().allowMock, false);
    assert.deepEqual(r.json().components.map((c: { name: string }) => c.name), ['sensor']);
    assert.equal((await t.call('GET', '/api/v1/systems/Lab')).json().allowMock, false);
    const refused = await mocks();
    assert.equal(refused.status, 403);
    assert.equal(refused.json().error.code, 'mock_not_allowed');
    assert.deepEqual((await updates()).map((e) => [e.targetId, e.details]), [['Lab', { allowMock: { from: true, to: false } }]]);
    // The same value again changes nothing and writes no entry.
    assert.equal((await t.call('PATCH', '/api/v1/systems/Lab', { json: { allowMock: false } })).status, 200);
    assert.equal((await updates()).length, 1);
  });

  it('fail/update/bad-body-unknown-system-and-other-roles-change-nothing', async () => {
    for (const json of [{}, { allowMock: 'yes' }, { allowMock: true, name: 'Renamed' }]) {
      const r = await t.call('PATCH', '/api/v1/systems/Lab', { json });
      assert.equal(r.status, 400, JSON.stringify(json));
      assert.equal(r.json().error.code, 'validation_failed');
    }
    const unknown = await t.call('PATCH', '/api/v1/systems/Nope', { json: { allowMock: true } });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json().error.code, 'system_not_found');
    const approver = (await t.call('POST', '/api/v1/users', { json: { username: 'abe', role: 'approver' } })).json().token as string;
    const refused = await t.call('PATCH', '/api/v1/systems/Lab', { token: approver, json: { allowMock: true } });
    assert.equal(refused.status, 403);
    assert.equal(refused.json().error.code, 'role_forbidden');
    assert.equal((await t.call('GET', '/api/v1/systems/Lab')).json().allowMock, false);
  });
});
