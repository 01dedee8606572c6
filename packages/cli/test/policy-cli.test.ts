/**
 * `provisio policy set|show` against a real service (in this process; the built CLI runs as a
 * child process, asynchronously so the service can answer it).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { type TestService, setUpSystem, startTestService } from '../../server/test/service-harness.js';
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

describe('provisio policy', () => {
  let t: TestService;
  let env: Record<string, string>;
  before(async () => {
    t = await startTestService();
    await setUpSystem(t, 'ZMonitor', 'gateway');
    env = { PROVISIO_URL: t.service.url, PROVISIO_CA_FILE: t.service.rootPath, PROVISIO_TOKEN: t.adminToken };
  });
  after(async () => t.close());

  it('ok/policy/set-and-show', async () => {
    let r = await cli(['policy', 'show', '--system', 'ZMonitor'], env);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /manual \(no policy/);
    r = await cli(['policy', 'set', '--system', 'ZMonitor', '--mode', 'automatic', '--device-id-pattern', '^ZM-[0-9]+$', '--serials', 'SN-1,SN-2', '--transports', 'upload,connected', '--max-per-hour', '10', '--packages', 'pkg_a'], env);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Approval policy of system "ZMonitor": automatic/);
    assert.match(r.stdout, /serialAllowList\s+SN-1, SN-2/);
    r = await cli(['policy', 'show', '--system', 'ZMonitor', '--component', 'gateway', '--json'], env);
    assert.equal(r.status, 0, r.stderr);
    const shown = JSON.parse(r.stdout);
    assert.equal(shown.policy, null);
    assert.equal(shown.effective.scope, 'system');
    assert.deepEqual(shown.effective.rules, { deviceIdPattern: '^ZM-[0-9]+$', serialAllowList: ['SN-1', 'SN-2'], transports: ['upload', 'connected'], maxPerHour: 10, packageIds: ['pkg_a'] });
    r = await cli(['policy', 'set', '--system', 'ZMonitor', '--component', 'gateway', '--mode', 'manual'], env);
    assert.equal(r.status, 0, r.stderr);
    r = await cli(['policy', 'show', '--system', 'ZMonitor', '--component', 'gateway'], env);
    assert.match(r.stdout, /mode\s+manual\nset on\s+component ZMonitor\/gateway\n/);
  });

  it('fail/policy/refused-with-codes', async () => {
    let r = await cli(['policy', 'set', '--system', 'ZMonitor', '--mode', 'automatic', '--device-id-pattern', 'ZM-.*'], env);
    assert.equal(r.status, 3, r.stdout + r.stderr);
    assert.match(r.stderr, /\[policy_invalid\]/);
    r = await cli(['policy', 'set', '--system', 'ZMonitor', '--mode', 'sometimes'], env);
    assert.equal(r.status, 2, r.stdout + r.stderr);
    r = await cli(['policy', 'show', '--system', 'Nope'], env);
    assert.equal(r.status, 6, r.stdout + r.stderr);
    assert.match(r.stderr, /\[system_not_found\]/);
  });
});
