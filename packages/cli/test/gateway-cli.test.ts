/**
 * Proxy gateways as people run them: `provisio serve`, `provisio gateway create`, then
 * `provisio proxy run` in its own process and a device provisioned through it with
 * `provisio device provision --url GATEWAY` and `provisio simulate --mode proxy`; SIGTERM stops the gateway cleanly.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openssl, tempDir } from '@provisio/testkit';
import { api } from './connected-helpers.js';
import { MAIN, type ServeProcess, ok, provisio, provisioAsync, startServe, transcript } from './run-cli.js';

describe('provisio gateway and provisio proxy run', () => {
  let server: ServeProcess;
  const dir = tempDir('provisio-gateway-cli-');

  before(async () => {
    server = await startServe(['--data', join(dir, 'data')]);
  });
  after(async () => server?.stop());

  it('ok/create-run-provision-through-the-gateway-and-stop', async () => {
    const env = server.env;
    ok(['system', 'create', 'Ward'], env);
    ok(['component', 'create', '--system', 'Ward', 'monitor'], env);
    ok(['policy', 'set', '--system', 'Ward', '--mode', 'automatic', '--transports', 'proxy'], env);
    const pkg = join(dir, 'ward.ppkg');
    ok(['package', 'create', '--system', 'Ward', '--out', pkg], env);

    const gwDir = join(dir, 'gateway');
    const created = ok(['gateway', 'create', 'ward-1', '--host', '127.0.0.1', '--host', 'localhost', '--dir', gwDir], env);
    assert.match(created.stdout, /✔ Gateway "ward-1" for 127\.0\.0\.1, localhost/);
    assert.equal(statSync(join(gwDir, 'gateway.key')).mode & 0o777, 0o600);
    assert.equal(statSync(gwDir).mode & 0o777, 0o700);
    // The gateway certificate serves TLS to devices and authenticates to the service (openssl).
    for (const purpose of ['sslserver', 'sslclient']) {
      const v = openssl(['verify', '-x509_strict', '-purpose', purpose, '-CAfile', join(gwDir, 'root.crt'), '-untrusted', join(gwDir, 'chain.pem'), join(gwDir, 'gateway.crt')]);
      assert.match(v.output, /gateway\.crt: OK/, v.output);
    }
    const twice = provisio(['gateway', 'create', 'ward-1', '--host', '127.0.0.1', '--dir', join(dir, 'gateway-2')], { env });
    assert.equal(twice.status, 7, transcript(twice));
    assert.match(twice.stderr, /gateway_exists/);
    const noHost = provisio(['gateway', 'create', 'ward-2', '--dir', join(dir, 'gateway-3')], { env });
    assert.equal(noHost.status, 2, transcript(noHost));

    const child = spawn(process.execPath, [MAIN, 'proxy', 'run', '--upstream', env.PROVISIO_URL as string, '--listen', '127.0.0.1:0', '--dir', gwDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`proxy run did not start:\n${out}\n${err}`)), 30_000);
        child.stdout?.on('data', (c: Buffer) => {
          out += c.toString();
          const m = /Gateway serving (https:\/\/\S+)/.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m[1] as string);
          }
        });
        void exited.then((code) => reject(new Error(`proxy run exited ${code}:\n${out}\n${err}`)));
      });

      const keystore = join(dir, 'keystore');
      const r = provisio(['device', 'provision', '--package', pkg, '--component', 'monitor', '--id', 'W-001', '--label', 'Bed 1', '--dir', keystore, '--url', url, '--wait', '60']);
      assert.equal(r.status, 0, `${transcript(r)}\n--- gateway\n${err}`);
      const shown = JSON.parse(ok(['device', 'get', 'W-001', '--json'], env).stdout) as { state: string; requestId: string };
      assert.equal(shown.state, 'provisioned');
      const request = JSON.parse(ok(['request', 'show', shown.requestId, '--json'], env).stdout) as { transport: string; gateway: string };
      assert.equal(request.transport, 'proxy');
      assert.equal(request.gateway, 'ward-1');

      // The fleet simulator in proxy mode: every simulated device goes through this gateway.
      const sim = await provisioAsync(['simulate', '--package', pkg, '--component', 'monitor', '--devices', '8', '--concurrency', '4', '--mode', 'proxy', '--gateway', url, '--prefix', 'GW-', '--dir', join(dir, 'sim'), '--json']);
      assert.equal(sim.status, 0, `${transcript(sim)}\n--- gateway\n${err}`);
      assert.equal((JSON.parse(sim.stdout) as { provisioned: number }).provisioned, 8);
      const carried = (await api<{ items: { deviceId: string; transport: string; gateway: string; state: string }[] }>(env, 'GET', '/api/v1/requests?system=Ward&q=GW-&limit=50')).body.items;
      assert.deepEqual(carried.map((q) => [q.transport, q.gateway, q.state]), Array.from({ length: 8 }, () => ['proxy', 'ward-1', 'approved']));
      assert.equal((await api<{ total: number }>(env, 'GET', '/api/v1/devices?system=Ward&state=provisioned&limit=1')).body.total, 9);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, err);
    // (Read after exit: spawnSync above held this process while the gateway wrote its steps.)
    assert.match(err, /forwarded: 1 accepted/);
    assert.match(err, /gateway stopped; the queue is kept/);

    const list = JSON.parse(ok(['gateway', 'list', '--json'], env).stdout) as { name: string; status: string }[];
    assert.deepEqual(list.map((g) => [g.name, g.status]), [['ward-1', 'active']]);
    assert.match(ok(['gateway', 'revoke', 'ward-1'], env).stdout, /revoked/);
  });
});
