/**
 * The device checks the pairing answer before it writes anything (seed 003): against the real
 * service in this process, the device SDK's `pairDevice` gets the service's answer through a
 * transport that changes it on the way, as an attacker between them would (or a replay of
 * another device's answer), or runs with a clock past the payload's window. Each is refused
 * with its code and the keystore directory is exactly as it was.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type HttpTransport, httpsTransport, pairDevice } from '@provisio/device';
import { tempDir } from '@provisio/testkit';
import { type TestService, setUpSystem, startTestService } from '../../server/test/service-harness.js';
import { snapshot } from './enroll-secret-helpers.js';

const random = { bytes: (n: number) => randomBytes(n) };

describe('device pair refuses a changed, expired or foreign answer before writing', () => {
  let t: TestService;
  const work = tempDir('provisio-pair-answers-');

  before(async () => {
    t = await startTestService({ webRoot: null });
    await setUpSystem(t, 'ZMonitor', 'bedside monitor', ['p256']);
    assert.equal((await t.call('PATCH', '/api/v1/systems/ZMonitor', { json: { enrollmentSecretApproves: true } })).status, 200);
  });
  after(async () => t?.close());

  async function register(deviceId: string): Promise<string> {
    const r = await t.call('POST', '/api/v1/pairings', { json: { system: 'ZMonitor', component: 'bedside monitor', deviceId, deviceLabel: `Bed ${deviceId}` } });
    assert.equal(r.status, 201, r.body.toString());
    return r.json().code as string;
  }

  /** The real HTTPS transport, with the 201 answer to the pairing call rewritten by `change`. */
  function between(change: (body: Buffer) => Buffer): HttpTransport {
    const real = httpsTransport(t.rootPem);
    return {
      request: async (method, url, body) => {
        const reply = await real.request(method, url, body);
        return url.endsWith('/api/v1/device/pairing/pair') && reply.status === 201 ? { ...reply, body: change(reply.body) } : reply;
      },
    };
  }

  /** An empty private keystore directory, and a check that it is still exactly that. */
  async function refusedBeforeWriting(deviceId: string, code: string, deps: { transport?: HttpTransport; clock?: { now(): Date } }, expected: string) {
    const dir = join(work, deviceId);
    mkdirSync(dir, { mode: 0o700 });
    const before = snapshot(dir);
    const sdk = { clock: deps.clock ?? { now: () => new Date() }, random, ...(deps.transport ? { transport: deps.transport } : {}) };
    await assert.rejects(pairDevice(sdk, { dir, serviceUrl: t.service.url, rootPem: t.rootPem, deviceId, code, maxWaitMs: 10_000 }), { code: expected });
    assert.deepEqual(snapshot(dir), before, `${expected}: the keystore directory is unchanged`);
    assert.deepEqual(before, {});
  }

  it('fail/answer/one-byte-changed', async () => {
    const code = await register('PR-1');
    // One byte of the payload's issuedAt (its last digit before the Z).
    const transport = between((body) => {
      const text = body.toString('utf8');
      const at = text.indexOf('Z"', text.indexOf('"issuedAt"'));
      const digit = text[at - 1] === '0' ? '1' : '0';
      return Buffer.from(`${text.slice(0, at - 1)}${digit}${text.slice(at)}`, 'utf8');
    });
    await refusedBeforeWriting('PR-1', code, { transport }, 'pp_signature_invalid');
  });

  it('fail/answer/expired-on-the-device-clock', async () => {
    const code = await register('PR-2');
    await refusedBeforeWriting('PR-2', code, { clock: { now: () => new Date(Date.now() + 20 * 60_000) } }, 'pp_expired');
  });

  it('fail/answer/another-devices-payload', async () => {
    // A valid answer for PR-3, captured, handed to PR-4 as if the service had sent it.
    const theirs = await register('PR-3');
    let captured: Buffer | null = null;
    const capture = between((body) => (captured = body));
    const dir3 = join(work, 'PR-3');
    await pairDevice({ clock: { now: () => new Date() }, random, transport: capture }, { dir: dir3, serviceUrl: t.service.url, rootPem: t.rootPem, deviceId: 'PR-3', code: theirs, maxWaitMs: 10_000 });
    assert.ok(captured);
    const code = await register('PR-4');
    await refusedBeforeWriting('PR-4', code, { transport: between(() => captured as unknown as Buffer) }, 'pp_wrong_device');
  });
});
