/**
 * The fleet simulator as people run it: `provisio serve` in its own process, an automatic
 * approval policy for connected requests, then `provisio simulate` provisions 20 devices.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tempDir } from '@provisio/testkit';
import { MAIN, type ServeProcess, ok, provisio, startServe, transcript } from './run-cli.js';

/** `provisio ARGS` in the background (the simulator may take longer than spawnSync's limit). */
function runAsync(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PROVISIO_')) env[k] = v;
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.once('exit', (status) => resolve({ status, stdout, stderr })));
}

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
    const r = await runAsync(['simulate', '--package', pkg, '--component', 'bedside monitor', '--devices', '20', '--concurrency', '8', '--prefix', 'SIM-', '--dir', keystores, '--json']);
    assert.equal(r.status, 0, transcript(r));
    // Not a terminal: no progress counter.
    assert.equal(r.stderr, '', transcript(r));
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

  it('err/missing-devices-flag-is-a-usage-error', () => {
    const r = provisio(['simulate', '--package', 'x.ppkg', '--component', 'c']);
    assert.equal(r.status, 2, transcript(r));
    assert.match(r.stderr, /needs --devices/);
  });
});
