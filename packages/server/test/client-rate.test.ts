/**
 * Per-client rate limiting (docs/service.md, "Burst handling"): the token bucket on its own, and
 * the device SDK against the real service with tight limits — it meets real 429 rate_limited and
 * 503 service_unavailable answers with Retry-After, waits at least that long before the next try
 * (observed through the SDK's own sleep calls, not the wall clock), and every device still ends
 * provisioned with exactly one request and one certificate stored.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type HttpTransport, httpsTransport, initDevice, provisionConnected, readKeystoreFile } from '@provisio/device';
import { systemClock } from '@provisio/pki';
import { tempDir } from '@provisio/testkit';
import { ClientRateLimiter } from '../src/http/client-rate-limit.js';
import { type Reply, type TestService, setUpSystem, startTestService } from './service-harness.js';

const deps = { clock: systemClock, random: { bytes: (n: number) => randomBytes(n) } };

describe('client rate limiter', () => {
  it('ok/bucket-refills-at-the-rate-and-says-when', () => {
    const limiter = new ClientRateLimiter({ ratePerSecond: 2, burst: 3 });
    for (let i = 0; i < 3; i++) assert.deepEqual(limiter.take('ip:a', 0), { allowed: true });
    assert.deepEqual(limiter.take('ip:a', 0), { allowed: false, retryAfterSeconds: 1 });
    assert.deepEqual(limiter.take('ip:b', 0), { allowed: true }, 'another client has its own bucket');
    assert.deepEqual(limiter.take('ip:a', 500), { allowed: true }, 'one token back after 1/rate s');
    assert.equal(limiter.take('ip:a', 500).allowed, false);
    const slow = new ClientRateLimiter({ ratePerSecond: 0.25, burst: 1 });
    slow.take('x', 0);
    assert.deepEqual(slow.take('x', 0), { allowed: false, retryAfterSeconds: 4 });
    assert.equal(new ClientRateLimiter({ ratePerSecond: 0, burst: 1 }).take('x', 0).allowed, true, 'rate 0: off');
    assert.throws(() => new ClientRateLimiter({ ratePerSecond: -1 }), RangeError);
  });

  it('ok/buckets-are-bounded', () => {
    const limiter = new ClientRateLimiter({ ratePerSecond: 1, burst: 1, maxClients: 10 });
    for (let i = 0; i < 100; i++) limiter.take(`ip:${i}`, 0);
    assert.ok(limiter.clients <= 10, `${limiter.clients} buckets`);
  });
});

describe('the SDK under tight limits (real service)', () => {
  /** Admin calls that wait out their own 429s (the admin token has a bucket of its own). */
  async function patient(t: TestService, method: 'GET' | 'POST', path: string, json?: unknown): Promise<Reply> {
    for (;;) {
      const r = await t.call(method, path, json === undefined ? {} : { json });
      if (r.status !== 429) return r;
      await new Promise((resolve) => setTimeout(resolve, Number(r.headers['retry-after']) * 1000));
    }
  }

  it('ok/devices-meet-429-and-503-honour-retry-after-and-end-provisioned-once', async () => {
    // One expensive call at a time, none queued; 2 calls/s per client with bursts of 20: ten
    // devices behind one address (127.0.0.1) submitting together exceed both.
    const t = await startTestService({ admission: { maxInFlight: 1, maxQueued: 0 }, clientRate: { ratePerSecond: 2, burst: 20 } });
    try {
      const { packageText } = await setUpSystem(t, 'Tight', 'sensor', ['p256']);
      const policy = await patient(t, 'POST', '/api/v1/systems/Tight/policy', { mode: 'automatic', rules: { deviceIdPattern: '^TIGHT-[0-9]+$' } });
      assert.equal(policy.status, 200, policy.body.toString());
      const count = 10;
      const dirs = await Promise.all(
        Array.from({ length: count }, async (_, i) => {
          const dir = join(tempDir('provisio-tight-'), 'keystore');
          await initDevice(deps, { packageText, component: 'sensor', deviceId: `TIGHT-${i}`, deviceLabel: `Tight ${i}`, dir });
          return dir;
        }),
      );
      type Entry = { kind: 'reply'; status: number; retryAfter: number | null } | { kind: 'sleep'; ms: number };
      const logs: Entry[][] = dirs.map(() => []);
      // Each device's connection is opened (TLS handshake done) first, so the submissions really
      // arrive together rather than one handshake apart.
      const connections = dirs.map((dir) => httpsTransport(readKeystoreFile(dir, 'root'), { timeoutMs: 45_000 }));
      await Promise.all(connections.map((c) => c.request('GET', `${t.service.url}/api/v1/health`)));
      const results = await Promise.all(
        dirs.map((dir, i) => {
          const log = logs[i] as Entry[];
          const https = connections[i] as (typeof connections)[number];
          const transport: HttpTransport = {
            request: async (method, url, body) => {
              const reply = await https.request(method, url, body);
              const after = reply.headers['retry-after'];
              log.push({ kind: 'reply', status: reply.status, retryAfter: after === undefined ? null : Number(after) });
              return reply;
            },
          };
          const sleep = (ms: number) => {
            log.push({ kind: 'sleep', ms });
            return new Promise<void>((resolve) => setTimeout(resolve, ms));
          };
          return provisionConnected({ ...deps, transport, sleep }, { dir, serviceUrl: t.service.url, maxWaitMs: 120_000 }).finally(() => https.close());
        }),
      );

      const all = logs.flat();
      const statuses = all.flatMap((e) => (e.kind === 'reply' ? [e.status] : []));
      assert.ok(statuses.includes(429), `a 429 was met: ${statuses.join(' ')}`);
      assert.ok(statuses.includes(503), `a 503 was met: ${statuses.join(' ')}`);
      for (const log of logs) {
        for (const [k, e] of log.entries()) {
          if (e.kind !== 'reply' || (e.status !== 429 && e.status !== 503)) continue;
          assert.ok(e.retryAfter !== null && e.retryAfter >= 1, `${e.status} carries Retry-After`);
          // The very next thing this device did was to wait at least that long.
          const next = log[k + 1];
          assert.ok(next?.kind === 'sleep' && next.ms >= e.retryAfter * 1000, `after ${e.status} Retry-After ${e.retryAfter}: ${JSON.stringify(next)}`);
        }
      }
      for (const r of results) assert.equal(r.serviceState, 'provisioned');

      // Stored exactly once: one request and one certificate per device, the one it installed.
      const requests = (await patient(t, 'GET', '/api/v1/requests?system=Tight&limit=100')).json();
      assert.equal(requests.total, count);
      for (const [i, r] of results.entries()) {
        const device = (await patient(t, 'GET', `/api/v1/devices/TIGHT-${i}`)).json();
        assert.equal(device.state, 'provisioned');
        assert.deepEqual((device.certificates as { serial: string }[]).map((c) => c.serial), [r.install.serial]);
      }
    } finally {
      await t.close();
    }
  });
});
