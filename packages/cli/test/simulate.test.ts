/**
 * The fleet simulator as people run it: `provisio serve` in its own process, then `provisio
 * simulate` in each mode — connected with a policy set beforehand, connected with the simulator
 * as the approver (manual), and disconnected with the simulator as technician setting the automatic
 * policy itself. Proxy mode runs through a real gateway in gateway-cli.test.ts.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tempDir } from '@provisio/testkit';
import { api } from './connected-helpers.js';
import { type ServeProcess, ok, provisio, provisioAsync, startServe, transcript } from './run-cli.js';

describe('provisio simulate against provisio serve', () => {
  let server: ServeProcess;
  const dir = tempDir('provisio-simulate-');

  before(async () => {
    server = await startServe(['--data', join(dir, 'data')]);
  });
  after(async () => server?.stop());

  it('ok/20-devices-provisioned-with-automatic-approval', async () => {
    const env = server.env;
    ok(['system', 'create', 'ZMonitor'], env);
    ok(['component', 'create', '--system', 'ZMonitor', 'bedside monitor'], env);
    ok(['policy', 'set', '--system', 'ZMonitor', '--mode', 'automatic', '--transports', 'connected'], env);
    const pkg = join(dir, 'zmonitor.ppkg');
    ok(['package', 'create', '--system', 'ZMonitor', '--out', pkg], env);

    const keystores = join(dir, 'fleet');
    const r = await provisioAsync(['simulate', '--package', pkg, '--component', 'bedside monitor', '--devices', '20', '--concurrency', '8', '--prefix', 'SIM-', '--dir', keystores, '--json']);
    assert.equal(r.status, 0, transcript(r));
    // Not a terminal: plain progress lines, no bar.
    assert.match(r.stderr, /^provisio: simulate: 20\/20 done, 20 provisioned, 0 failed$/m, transcript(r));
    assert.doesNotMatch(r.stderr, /\r|█/);
    const summary = JSON.parse(r.stdout) as {
      devices: number;
      provisioned: number;
      failed: Record<string, number>;
      perSecond: number;
      latencyMs: { p50: number | null; p99: number | null };
      firstDeviceId: string;
    };
    assert.equal(summary.devices, 20);
    assert.equal(summary.provisioned, 20, r.stdout);
    assert.deepEqual(summary.failed, {});
    assert.ok(summary.perSecond > 0);
    assert.ok(summary.latencyMs.p50 !== null && summary.latencyMs.p99 !== null && summary.latencyMs.p50 <= summary.latencyMs.p99);
    assert.equal(summary.firstDeviceId, 'SIM-00001');

    const approved = JSON.parse(ok(['request', 'list', '--state', 'approved', '--limit', '100', '--json'], env).stdout) as {
      total: number;
      items: Array<{ deviceId: string }>;
    };
    assert.equal(approved.total, 20);
    const ids = new Set(approved.items.map((i) => i.deviceId));
    assert.equal(ids.size, 20);
    for (const id of ids) assert.match(id, /^SIM-\d{5}$/);

    const device = JSON.parse(ok(['device', 'get', 'SIM-00007', '--json'], env).stdout) as { state: string };
    assert.equal(device.state, 'provisioned');
  });

  type Summary = {
    mode: string;
    approve: string;
    provisioned: number;
    failed: Record<string, number>;
    humanWaitMs: { p50: number | null; p99: number | null } | null;
    policy: string | null;
  };
  const token = () => ({ PROVISIO_TOKEN: server.env.PROVISIO_TOKEN as string });
  function setUp(system: string): string {
    const env = server.env;
    ok(['system', 'create', system], env);
    ok(['component', 'create', '--system', system, 'sensor'], env);
    const pkg = join(dir, `${system}.ppkg`);
    ok(['package', 'create', '--system', system, '--out', pkg], env);
    return pkg;
  }
  async function deviceStates(system: string): Promise<Record<string, number>> {
    const list = (await api<{ items: Array<{ state: string }> }>(server.env, 'GET', `/api/v1/devices?system=${system}&limit=100`)).body;
    const states: Record<string, number> = {};
    for (const d of list.items) states[d.state] = (states[d.state] ?? 0) + 1;
    return states;
  }

  it('ok/manual-approval-the-simulator-approves-its-devices', async () => {
    const pkg = setUp('ManualSim');
    const r = await provisioAsync(['simulate', '--package', pkg, '--component', 'sensor', '--devices', '6', '--concurrency', '3', '--approve', 'manual', '--prefix', 'MS-', '--dir', join(dir, 'manual'), '--json'], token());
    assert.equal(r.status, 0, transcript(r));
    const summary = JSON.parse(r.stdout) as Summary;
    assert.equal(summary.approve, 'manual');
    assert.equal(summary.provisioned, 6);
    assert.ok(summary.humanWaitMs && summary.humanWaitMs.p50 !== null, r.stdout);
    assert.deepEqual(await deviceStates('ManualSim'), { provisioned: 6 });
    // Approved by the approver's token, not by a policy.
    const audit = JSON.parse(ok(['audit', 'list', '--action', 'request.approve', '--json'], server.env).stdout) as unknown;
    assert.equal((JSON.stringify(audit).match(/MS-0000\d/g) ?? []).length >= 6, true);
  });

  it('ok/disconnected-mode-the-simulator-is-the-technician-and-sets-the-policy', async () => {
    const pkg = setUp('DiscSim');
    const r = await provisioAsync(['simulate', '--package', pkg, '--component', 'sensor', '--devices', '5', '--mode', 'disconnected', '--prefix', 'DS-', '--dir', join(dir, 'disc'), '--json'], token());
    assert.equal(r.status, 0, transcript(r));
    const summary = JSON.parse(r.stdout) as Summary;
    assert.equal(summary.mode, 'disconnected');
    assert.equal(summary.provisioned, 5);
    assert.equal(summary.policy, 'set');
    assert.deepEqual(await deviceStates('DiscSim'), { provisioned: 5 });
    const requests = JSON.parse(ok(['request', 'list', '--system', 'DiscSim', '--json'], server.env).stdout) as { items: Array<{ transport: string }> };
    assert.ok(requests.items.length === 5 && requests.items.every((i) => i.transport === 'upload'), JSON.stringify(requests));
    const policy = JSON.parse(ok(['policy', 'show', '--system', 'DiscSim', '--component', 'sensor', '--json'], server.env).stdout) as { effectiveMode: string };
    assert.equal(policy.effectiveMode, 'automatic');
  });

  it('err/modes-that-need-a-token-or-a-gateway-say-so', () => {
    let r = provisio(['simulate', '--package', 'x.ppkg', '--component', 'c', '--devices', '2', '--mode', 'disconnected']);
    assert.equal(r.status, 2, transcript(r));
    assert.match(r.stderr, /needs an API token/);
    r = provisio(['simulate', '--package', 'x.ppkg', '--component', 'c', '--devices', '2', '--mode', 'proxy']);
    assert.equal(r.status, 2, transcript(r));
    assert.match(r.stderr, /needs --gateway/);
    r = provisio(['simulate', '--package', 'x.ppkg', '--component', 'c', '--devices', '2', '--mode', 'carrier-pigeon']);
    assert.equal(r.status, 2, transcript(r));
    assert.match(r.stderr, /--mode must be one of connected, proxy, disconnected/);
  });

  it('err/missing-devices-flag-is-a-usage-error', () => {
    const r = provisio(['simulate', '--package', 'x.ppkg', '--component', 'c']);
    assert.equal(r.status, 2, transcript(r));
    assert.match(r.stderr, /needs --devices/);
  });
});
