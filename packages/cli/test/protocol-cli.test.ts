/**
 * `provisio protocol enable|disable|show` against a real service (in this process; the built CLI
 * runs as a child process, asynchronously so the service can answer it). Off by default; a
 * switch on the system and one on a component are separate; every change is audited once.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { type TestService, databaseState, setUpSystem, startTestService } from '../../server/test/service-harness.js';
import { MAIN } from './run-cli.js';

function cli(args: string[], env: Record<string, string>): Promise<{ status: number; stdout: string; stderr: string }> {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PROVISIO_')) base[k] = v;
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { env: { ...base, ...env } }, (error, stdout, stderr) => {
      resolve({ status: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('provisio protocol', () => {
  let t: TestService;
  let env: Record<string, string>;
  before(async () => {
    t = await startTestService();
    await setUpSystem(t, 'ZMonitor', 'bedside monitor');
    env = { PROVISIO_URL: t.service.url, PROVISIO_CA_FILE: t.service.rootPath, PROVISIO_TOKEN: t.adminToken };
  });
  after(async () => t.close());

  it('ok/protocol/off-by-default-enable-show-disable', async () => {
    let r = await cli(['protocol', 'show'], env);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /no enrollment protocol is enabled/);
    r = await cli(['protocol', 'enable', 'est', '--system', 'ZMonitor', '--component', 'bedside monitor'], env);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /✔ EST enabled for component "ZMonitor\/bedside monitor"/);
    r = await cli(['protocol', 'enable', 'est', '--system', 'ZMonitor', '--component', 'bedside monitor'], env);
    assert.match(r.stdout, /= EST was already enabled/);
    r = await cli(['protocol', 'enable', 'cmp', '--system', 'ZMonitor'], env);
    assert.equal(r.status, 0, r.stderr);
    r = await cli(['protocol', 'show', '--json'], env);
    const shown = JSON.parse(r.stdout) as { items: Array<{ protocol: string; system: string; component: string | null; enabledBy: string }> };
    assert.deepEqual(shown.items.map((p) => [p.protocol, p.system, p.component, p.enabledBy]), [['cmp', 'ZMonitor', null, 'admin'], ['est', 'ZMonitor', 'bedside monitor', 'admin']]);
    r = await cli(['protocol', 'show'], env);
    assert.match(r.stdout, /cmp\s+ZMonitor\s+\(all components\)/);
    r = await cli(['protocol', 'disable', 'est', '--system', 'ZMonitor'], env);
    assert.match(r.stdout, /= EST was already disabled for system "ZMonitor"/, 'the system switch is not the component\'s');
    r = await cli(['protocol', 'disable', 'est', '--system', 'ZMonitor', '--component', 'bedside monitor'], env);
    assert.match(r.stdout, /✔ EST disabled/);
    const audit = (await t.call('GET', '/api/v1/audit?action=protocol.enable')).json<{ items: Array<{ targetId: string; details: { protocol: string } }> }>();
    assert.deepEqual(audit.items.map((e) => [e.targetId, e.details.protocol]).sort(), [['ZMonitor', 'cmp'], ['ZMonitor/bedside monitor', 'est']]);
  });

  it('fail/protocol/refused-with-codes-nothing-stored', async () => {
    const before = databaseState(t);
    let r = await cli(['protocol', 'enable', 'ftp', '--system', 'ZMonitor'], env);
    assert.equal(r.status, 2, r.stdout + r.stderr);
    r = await cli(['protocol', 'enable', 'est', '--system', 'Nope'], env);
    assert.equal(r.status, 6, r.stdout + r.stderr);
    assert.match(r.stderr, /\[system_not_found\]/);
    r = await cli(['protocol', 'enable', 'est', '--system', 'ZMonitor', '--component', 'nope'], env);
    assert.equal(r.status, 6, r.stdout + r.stderr);
    assert.match(r.stderr, /\[component_not_found\]/);
    assert.deepEqual(databaseState(t), before);
    const approver = await t.call('POST', '/api/v1/users', { json: { username: 'appr', role: 'approver' } });
    const token = approver.json<{ token: string }>().token;
    const afterUser = databaseState(t);
    r = await cli(['protocol', 'enable', 'est', '--system', 'ZMonitor'], { ...env, PROVISIO_TOKEN: token });
    assert.equal(r.status, 5, r.stdout + r.stderr);
    assert.match(r.stderr, /\[role_forbidden\]/);
    assert.deepEqual(databaseState(t), afterUser);
  });
});
