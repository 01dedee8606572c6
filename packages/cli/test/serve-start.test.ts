/**
 * Start-up a newcomer can trust (D33): a second `provisio serve` on ports a first one holds names
 * the port and the flag to pass, exits 7 (port_in_use) and creates nothing — not even its data
 * directory; another bind failure is listen_failed (exit 8); `--port N` without `--publish-listen` never reaches for the fixed publication port.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tempDir } from '@provisio/testkit';
import { type ServeProcess, provisioAsync, startServe, transcript } from './run-cli.js';

describe('serve start-up', () => {
  const dir = tempDir('provisio-start-');
  let first: ServeProcess;
  let port: number;
  let publishPort: number;

  before(async () => {
    first = await startServe(['--data', join(dir, 'first')]);
    port = Number(new URL(first.env.PROVISIO_URL as string).port);
    publishPort = Number(/CRL and OCSP\s+http:\/\/127\.0\.0\.1:(\d+)\//.exec(first.stdout)?.[1]);
    assert.ok(publishPort > 0, first.stdout);
  });
  after(async () => {
    await first?.stop();
  });

  const cases: [string, () => string[], () => RegExp][] = [
    ['fail/start/service-port-in-use', () => ['--port', String(port), '--publish-listen', 'off'], () => new RegExp(`port ${port} is in use: pass --port N`)],
    ['fail/start/publication-port-in-use', () => ['--port', '0', '--publish-listen', `127.0.0.1:${publishPort}`], () => new RegExp(`port ${publishPort} is in use: pass --publish-listen HOST:PORT or off`)],
    ['fail/start/station-port-in-use', () => ['--port', '0', '--station-listen', `127.0.0.1:${port}`], () => new RegExp(`port ${port} is in use: pass --station-listen HOST:PORT`)],
  ];
  for (const [name, flags, expected] of cases) {
    it(name, async () => {
      const data = join(dir, `second-${name.split('/').at(-1)}`);
      const r = await provisioAsync(['serve', '--data', data, ...flags()]);
      assert.equal(r.status, 7, transcript(r));
      assert.match(r.stderr, expected());
      assert.match(r.stderr, /\[port_in_use\]/);
      assert.doesNotMatch(r.stderr, /internal_error/);
      assert.equal(r.stdout, '', 'no banner, no password');
      assert.equal(existsSync(data), false, 'nothing was created: no data directory, CA, database or token');
    });
  }

  it('fail/start/host-not-of-this-machine-is-listen-failed', async () => {
    // 192.0.2.1 is TEST-NET-1 (RFC 5737): never an address of this machine.
    const data = join(dir, 'second-foreign-host');
    const r = await provisioAsync(['serve', '--data', data, '--port', '0', '--host', '192.0.2.1']);
    assert.equal(r.status, 8, transcript(r));
    assert.match(r.stderr, /cannot listen on 192\.0\.2\.1:0 \(192\.0\.2\.1 is not an address of this machine\): pass --port N \(or --host HOST\) \[listen_failed\]/);
    assert.equal(existsSync(data), false);
  });

  it('fail/start/publish-url-without-a-publication-listener', async () => {
    const data = join(dir, 'second-publish-url');
    const r = await provisioAsync(['serve', '--data', data, '--port', String(port), '--publish-url', 'http://pki.example']);
    assert.equal(r.status, 2, transcript(r));
    assert.match(r.stderr, /--publish-url needs the publication listener: with --port, pass --publish-listen HOST:PORT too/);
    assert.equal(existsSync(data), false);
  });

  it('ok/start/the-first-service-still-serves', async () => {
    const r = await fetch(`http://127.0.0.1:${publishPort}/ca/root.crt`);
    assert.equal(r.status, 200);
    assert.equal(first.child.exitCode, null);
  });

  it('ok/start/port-given-without-publish-listen-has-no-publication-listener', async () => {
    // A fixed --port: one the OS picked for a first start, free again once that one stopped.
    const data = join(dir, 'fixed');
    const probe = await startServe(['--data', data, '--publish-listen', 'off']);
    const fixed = Number(new URL(probe.env.PROVISIO_URL as string).port);
    await probe.stop();
    const s = await startServe(['--data', data], { port: fixed });
    try {
      assert.match(s.stdout, /no plain-http publication listener: --port was given without --publish-listen/);
      assert.doesNotMatch(s.stdout + s.stderr, /:8080/);
      assert.match(s.stdout, new RegExp(`CRL and OCSP\\s+https://127\\.0\\.0\\.1:${fixed}/crl/issuing\\.crl`));
    } finally {
      await s.stop();
    }
  });
});
