/**
 * Test helpers for the standard enrollment protocols: unmodified clients (curl, strongSwan's pki,
 * openssl) run as child processes. Asynchronously: the service under test runs in this process,
 * and a synchronous child would block the event loop that has to answer it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { initDevice, provisionConnected } from '@provisio/device';
import { tempDir } from '@provisio/testkit';
import type { TestService } from './service-harness.js';

export interface ToolRun {
  readonly status: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

export function runTool(command: string, args: readonly string[], options: { input?: Uint8Array | string; cwd?: string; timeoutMs?: number } = {}): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, timeout: options.timeoutMs ?? 60_000 });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') }));
    child.stdin.end(options.input);
  });
}

/** A system whose connected requests are approved automatically, with one P-256 component. */
export async function setUpFleet(t: TestService, system: string, component: string): Promise<string> {
  let r = await t.call('POST', '/api/v1/systems', { json: { name: system, separationOfDuties: false } });
  assert.equal(r.status, 201, r.body.toString());
  r = await t.call('POST', `/api/v1/systems/${encodeURIComponent(system)}/components`, { json: { name: component, keyTypes: ['p256'] } });
  assert.equal(r.status, 201, r.body.toString());
  r = await t.call('POST', `/api/v1/systems/${encodeURIComponent(system)}/policy`, { json: { mode: 'automatic', rules: { transports: ['connected'] } } });
  assert.equal(r.status, 200, r.body.toString());
  r = await t.call('POST', '/api/v1/packages', { json: { system } });
  assert.equal(r.status, 201, r.body.toString());
  return r.body.toString('utf8');
}

/** A device provisioned over connected delivery; its keystore directory (device.key, certificate.pem). */
export async function provisionDevice(t: TestService, packageText: string, component: string, deviceId: string): Promise<string> {
  const dir = join(tempDir('provisio-proto-'), 'keystore');
  const deps = { clock: t.service.deps.clock, random: t.service.deps.random };
  await initDevice(deps, { packageText, component, deviceId, deviceLabel: `Device ${deviceId}`, dir });
  const result = await provisionConnected(deps, { dir, serviceUrl: t.service.url, maxWaitMs: 30_000, maxPollIntervalMs: 100 });
  assert.equal(result.serviceState, 'provisioned');
  return dir;
}

export async function setProtocol(t: TestService, system: string, protocol: string, enabled: boolean, component?: string): Promise<void> {
  const r = await t.call('POST', `/api/v1/systems/${encodeURIComponent(system)}/protocols`, { json: { protocol, enabled, ...(component ? { component } : {}) } });
  assert.equal(r.status, 200, r.body.toString());
}
