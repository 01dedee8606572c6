/**
 * 200 simulated devices over connected delivery, with automatic approval, against `provisio
 * serve` in its own process: every device ends Provisioned exactly once (checked through the
 * API), and every installed device certificate verifies with `openssl verify` against the root
 * and the issuing CA (in batches: one openssl run per 100 certificates).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openssl, tempDir } from '@provisio/testkit';
import { api } from './connected-helpers.js';
import { type ServeProcess, ok, provisioAsync, startServe, transcript } from './run-cli.js';

const COUNT = 200;

describe(`${COUNT} connected devices against provisio serve`, () => {
  let server: ServeProcess;
  const dir = tempDir('provisio-fleet200-');

  // Per-client limiting off: the whole fleet shares 127.0.0.1 here (docs/service.md).
  before(async () => {
    server = await startServe(['--data', join(dir, 'data'), '--rate-per-client', '0']);
  });
  after(async () => server?.stop());

  it(`ok/${COUNT}-provisioned-exactly-once-and-verified-by-openssl`, async () => {
    const env = server.env;
    ok(['system', 'create', 'Fleet'], env);
    ok(['component', 'create', '--system', 'Fleet', 'sensor'], env);
    ok(['policy', 'set', '--system', 'Fleet', '--mode', 'automatic', '--transports', 'connected'], env);
    const pkg = join(dir, 'fleet.ppkg');
    ok(['package', 'create', '--system', 'Fleet', '--out', pkg], env);

    const keystores = join(dir, 'fleet');
    const r = await provisioAsync(['simulate', '--package', pkg, '--component', 'sensor', '--devices', String(COUNT), '--concurrency', '16', '--prefix', 'F-', '--dir', keystores, '--json']);
    assert.equal(r.status, 0, transcript(r));
    const summary = JSON.parse(r.stdout) as { provisioned: number; failed: Record<string, number> };
    assert.equal(summary.provisioned, COUNT);
    assert.deepEqual(summary.failed, {});

    // Through the API: COUNT requests, COUNT distinct devices, all provisioned, confirmed once each.
    const requests = (await api<{ total: number; items: { deviceId: string; state: string }[] }>(env, 'GET', '/api/v1/requests?system=Fleet&limit=500')).body;
    assert.equal(requests.total, COUNT);
    assert.equal(new Set(requests.items.map((i) => i.deviceId)).size, COUNT);
    assert.ok(requests.items.every((i) => i.state === 'approved'));
    const provisioned = (await api<{ total: number }>(env, 'GET', '/api/v1/devices?system=Fleet&state=provisioned&limit=1')).body;
    assert.equal(provisioned.total, COUNT);
    const confirms = (await api<{ total: number }>(env, 'GET', '/api/v1/audit?action=device.confirm&limit=1')).body;
    assert.equal(confirms.total, COUNT, 'each device confirmed exactly once');
    const approvals = (await api<{ total: number }>(env, 'GET', '/api/v1/audit?action=request.auto_approve&limit=1')).body;
    assert.equal(approvals.total, COUNT, 'one certificate issued per device');

    // openssl verify, 100 leaves per run.
    const files = tempDir('provisio-fleet200-certs-');
    const intermediate = join(files, 'intermediate.pem');
    const leaves: string[] = [];
    for (let i = 1; i <= COUNT; i++) {
      const id = `F-${String(i).padStart(5, '0')}`;
      const [leaf, issuing] = readFileSync(join(keystores, id, 'certificate.pem'), 'utf8').split(/(?<=-----END CERTIFICATE-----\n)/);
      if (i === 1) writeFileSync(intermediate, issuing ?? '');
      const path = join(files, `${id}.pem`);
      writeFileSync(path, leaf ?? '');
      leaves.push(path);
    }
    for (let i = 0; i < leaves.length; i += 100) {
      const batch = leaves.slice(i, i + 100);
      const v = openssl(['verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', env.PROVISIO_CA_FILE as string, '-untrusted', intermediate, ...batch]);
      assert.equal(v.status, 0, v.output);
      assert.equal((v.output.match(/: OK$/gm) ?? []).length, batch.length, v.output);
    }
  });
});
