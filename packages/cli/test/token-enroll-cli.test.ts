/**
 * The token/PSK method as people run it: `provisio serve` (with its central station) in one
 * process; `provisio token create` by an admin; `provisio device enroll` on the device, which
 * makes its key, sends token + CSR, verifies the answer, installs and confirms over mutual TLS.
 * openssl checks the certificate, curl the mutual TLS at the station. A used, wrong or expired
 * token is refused and the device's keystore directory is not even created.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tempDir } from '@provisio/testkit';
import { checkInstalledKeystore, snapshot, stationUrlOf } from './enroll-secret-helpers.js';
import { type ServeProcess, ok, provisio, provisioAsync, startServe, transcript } from './run-cli.js';

describe('provisio token create and device enroll', () => {
  let server: ServeProcess;
  let station: string;
  const dir = tempDir('provisio-token-cli-');

  before(async () => {
    server = await startServe(['--data', join(dir, 'data'), '--station-listen', '127.0.0.1:0']);
    station = stationUrlOf(server.stdout);
    ok(['system', 'create', 'ZMonitor', '--secret-approves', 'on'], server.env);
    ok(['component', 'create', '--system', 'ZMonitor', 'bedside monitor', '--key-type', 'p256,rsa3072'], server.env);
  });
  after(async () => server?.stop());

  /** `provisio device enroll` as a device runs it: no PROVISIO_* variables. */
  const enroll = (args: string[]) => provisio(['device', 'enroll', '--url', server.env.PROVISIO_URL as string, '--ca', server.env.PROVISIO_CA_FILE as string, ...args]);

  it('ok/token/create-enroll-openssl-curl-then-refused-when-reused', () => {
    const tokenFile = join(dir, 'zm-0042.token');
    const created = ok(['token', 'create', '--system', 'ZMonitor', '--component', 'bedside monitor', '--id', 'ZM-0042', '--out', tokenFile], server.env);
    assert.match(created.stderr, /mode 0600/);
    assert.doesNotMatch(created.stdout, /pvt_/, 'with --out the token is only in the file');
    const keystore = join(dir, 'ks-0042');
    const r = enroll(['--token-file', tokenFile, '--id', 'ZM-0042', '--label', 'Bed 12', '--key', 'rsa3072', '--dir', keystore, '--station', station]);
    assert.equal(r.status, 0, transcript(r));
    assert.match(r.stdout, /Checked in at /);
    checkInstalledKeystore(keystore, { rootPath: server.env.PROVISIO_CA_FILE as string, deviceId: 'ZM-0042', system: 'ZMonitor', label: 'Bed 12', stationUrl: station, keyAlgorithm: 'RSA' });
    const device = JSON.parse(ok(['device', 'get', 'ZM-0042', '--json'], server.env).stdout) as { state: string };
    assert.equal(device.state, 'provisioned');

    // Used: a second device with the same token gets nothing, and writes nothing.
    const second = join(dir, 'ks-0042-again');
    const again = enroll(['--token-file', tokenFile, '--id', 'ZM-0042', '--dir', second]);
    assert.notEqual(again.status, 0);
    assert.match(again.stderr, /token_used/);
    assert.equal(snapshot(second), null, 'the keystore directory was not created');

    const listed = JSON.parse(ok(['token', 'list', '--system', 'ZMonitor', '--json'], server.env).stdout) as Array<{ state: string; uses: number }>;
    assert.deepEqual(listed.map((t) => [t.state, t.uses]), [['used', 1]]);
  });

  it('ok/token/waits-for-an-approver-where-the-token-is-not-the-approval', async () => {
    // Pumps keeps the default: the token authenticates the device; an approver decides.
    ok(['system', 'create', 'Pumps'], server.env);
    ok(['component', 'create', '--system', 'Pumps', 'pump'], server.env);
    const tokenFile = join(dir, 'pmp-7.token');
    ok(['token', 'create', '--system', 'Pumps', '--component', 'pump', '--id', 'PMP-7', '--out', tokenFile], server.env);
    const keystore = join(dir, 'ks-pmp-7');
    const running = provisioAsync(['device', 'enroll', '--url', server.env.PROVISIO_URL as string, '--ca', server.env.PROVISIO_CA_FILE as string, '--token-file', tokenFile, '--id', 'PMP-7', '--dir', keystore, '--wait', '120']);
    let pending: Array<{ id: string; deviceId: string }> = [];
    for (let i = 0; i < 200 && pending.length === 0; i++) {
      pending = (JSON.parse(ok(['request', 'list', '--state', 'pending', '--system', 'Pumps', '--json'], server.env).stdout) as { items: Array<{ id: string; deviceId: string }> }).items;
      if (pending.length === 0) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.deepEqual(pending.map((r) => r.deviceId), ['PMP-7']);
    assert.equal(snapshot(keystore), null, 'nothing written while the request waits');
    ok(['request', 'approve', pending[0]?.id as string], server.env);
    const r = await running;
    assert.equal(r.status, 0, transcript(r));
    const device = JSON.parse(ok(['device', 'get', 'PMP-7', '--json'], server.env).stdout) as { state: string };
    assert.equal(device.state, 'provisioned');
  });

  it('fail/token/wrong-revoked-refused-before-anything-is-written', () => {
    const created = ok(['token', 'create', '--system', 'ZMonitor', '--component', 'bedside monitor', '--pattern', '^ZM-9[0-9]+$', '--expires', '1h', '--json'], server.env);
    const { token, record } = JSON.parse(created.stdout) as { token: string; record: { id: string } };
    const wrongFile = join(dir, 'wrong.token');
    writeFileSync(wrongFile, `${token.slice(0, -4)}0000\n`);
    const keystore = join(dir, 'ks-9001');
    const wrong = enroll(['--token-file', wrongFile, '--id', 'ZM-9001', '--dir', keystore]);
    assert.equal(wrong.status, 3, transcript(wrong));
    assert.match(wrong.stderr, /token_invalid/);
    assert.equal(snapshot(keystore), null);

    ok(['token', 'revoke', record.id], server.env);
    const goodFile = join(dir, 'good.token');
    writeFileSync(goodFile, `${token}\n`);
    const revoked = enroll(['--token-file', goodFile, '--id', 'ZM-9001', '--dir', keystore]);
    assert.match(revoked.stderr, /token_revoked/);
    assert.equal(snapshot(keystore), null);
  });
});
