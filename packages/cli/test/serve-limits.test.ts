/**
 * `provisio serve` limit flags (docs/service.md, "Burst handling"): --rate-per-client and
 * --rate-burst reach the service (a client over its rate gets 429 rate_limited with Retry-After),
 * the CLI waits out a 429 and sends the call again, and a bad value is a usage error before
 * anything starts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tempDir } from '@provisio/testkit';
import { type ServeProcess, provisio, provisioAsync, startServe, transcript } from './run-cli.js';

function get(env: Record<string, string>, path: string): Promise<{ status: number; retryAfter: string | undefined; body: string }> {
  const ca = readFileSync(env.PROVISIO_CA_FILE as string, 'utf8');
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${env.PROVISIO_URL}${path}`, { ca, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('provisio serve limits', () => {
  let server: ServeProcess;
  before(async () => {
    // Rate 0: per-client limiting off, whatever the burst.
    server = await startServe(['--data', join(tempDir('provisio-limits-'), 'data'), '--rate-per-client', '0', '--rate-burst', '2']);
  });
  after(async () => server?.stop());

  it('ok/rate-0-turns-per-client-limiting-off', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await get(server.env, '/api/v1/health')).status, 200);
  });

  it('ok/a-client-over-its-rate-gets-429-with-retry-after', async () => {
    const limited = await startServe(['--data', join(tempDir('provisio-limits-'), 'data'), '--rate-per-client', '1', '--rate-burst', '2']);
    try {
      const answers = [];
      for (let i = 0; i < 4; i++) answers.push(await get(limited.env, '/api/v1/health'));
      const refused = answers.filter((a) => a.status === 429);
      assert.ok(refused.length >= 1, answers.map((a) => a.status).join(' '));
      for (const a of refused) {
        assert.equal((JSON.parse(a.body) as { error: { code: string } }).error.code, 'rate_limited');
        assert.ok(Number(a.retryAfter) >= 1, String(a.retryAfter));
      }
      assert.equal(answers[0]?.status, 200);
    } finally {
      await limited.stop();
    }
  });

  it('ok/the-cli-waits-out-429-and-succeeds', async () => {
    // One call per second, no burst: of three calls sent at once with the same token, two are
    // answered 429 first; the CLI waits the Retry-After and sends them again.
    const limited = await startServe(['--data', join(tempDir('provisio-limits-'), 'data'), '--rate-per-client', '1', '--rate-burst', '1']);
    try {
      const runs = await Promise.all([0, 1, 2].map(() => provisioAsync(['system', 'list', '--json'], limited.env)));
      for (const r of runs) assert.equal(r.status, 0, transcript(r));
    } finally {
      await limited.stop();
    }
  });

  it('err/bad-limit-is-a-usage-error', () => {
    const r = provisio(['serve', '--data', tempDir('provisio-limits-'), '--port', '0', '--rate-per-client', 'lots']);
    assert.equal(r.status, 2, transcript(r));
    assert.match(r.stderr, /--rate-per-client \(or PROVISIO_RATE_PER_CLIENT\) must be an integer 0-1000000; got "lots"/);
    const q = provisio(['serve', '--data', tempDir('provisio-limits-'), '--port', '0', '--max-in-flight', '0'], { env: {} });
    assert.equal(q.status, 2, transcript(q));
    assert.match(q.stderr, /--max-in-flight/);
    const e = provisio(['serve', '--data', tempDir('provisio-limits-'), '--port', '0'], { env: { PROVISIO_MAX_HELD_POLLS: '-1' } });
    assert.equal(e.status, 2, transcript(e));
    assert.match(e.stderr, /PROVISIO_MAX_HELD_POLLS/);
  });
});
