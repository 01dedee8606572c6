/**
 * QR onboarding from the CLI: `provisio pairing create --qr F.png` and `provisio token create
 * --qr F.png` write the setup payload as a QR code (0600, a secret); decoding the PNG with jsQR
 * gives the service URL, the root's fingerprint, the device id and the code (or token), and the
 * code read from the picture pairs the device. A --qr name that is not .png, or a file that is
 * already there, is refused before anything is created on the service.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseCertificate } from '@provisio/pki';
import { parseSetupPayload } from '@provisio/protocol';
import { tempDir } from '@provisio/testkit';
import { decodeQrPng } from './qr-decode.js';
import { type ServeProcess, ok, provisio, startServe, transcript } from './run-cli.js';

describe('provisio pairing create --qr and token create --qr', () => {
  let server: ServeProcess;
  const dir = tempDir('provisio-pairing-qr-');
  let rootSha256: string;

  before(async () => {
    server = await startServe(['--data', join(dir, 'data')]);
    ok(['system', 'create', 'ZMonitor', '--secret-approves', 'on'], server.env);
    ok(['component', 'create', '--system', 'ZMonitor', 'bedside monitor'], server.env);
    const rootPem = readFileSync(server.env.PROVISIO_CA_FILE as string, 'utf8');
    rootSha256 = createHash('sha256').update(parseCertificate(rootPem).der).digest('hex');
  });
  after(async () => server?.stop());

  const pairings = () => JSON.parse(ok(['pairing', 'list', '--json'], server.env).stdout) as unknown[];

  it('ok/pairing-qr/png-decodes-to-the-setup-payload-and-the-code-pairs', () => {
    const png = join(dir, 'dev-001.png');
    const r = ok(['pairing', 'create', '--system', 'ZMonitor', '--component', 'bedside monitor', '--id', 'DEV-001', '--label', 'Bed 12', '--qr', png], server.env);
    const code = r.stdout.trim();
    assert.match(r.stderr, /written to .*dev-001\.png \(mode 0600\): it holds the secret/);
    assert.equal(statSync(png).mode & 0o777, 0o600);

    const text = decodeQrPng(png);
    assert.match(text, /^provisio-setup:\?v=1&/);
    assert.deepEqual(parseSetupPayload(text), { url: server.env.PROVISIO_URL, rootSha256, deviceId: 'DEV-001', code });

    // The code read from the picture pairs the device.
    const setup = parseSetupPayload(text);
    assert.ok('code' in setup);
    const paired = provisio(['device', 'pair', '--url', setup.url, '--ca', server.env.PROVISIO_CA_FILE as string, '--id', setup.deviceId, '--code', setup.code, '--dir', join(dir, 'ks-001')]);
    assert.equal(paired.status, 0, transcript(paired));
  });

  it('ok/token-qr/png-decodes-to-the-token-and-its-device', () => {
    const png = join(dir, 'token.png');
    const r = ok(['token', 'create', '--system', 'ZMonitor', '--component', 'bedside monitor', '--id', 'ZM-0042', '--qr', png], server.env);
    assert.equal(statSync(png).mode & 0o777, 0o600);
    assert.deepEqual(parseSetupPayload(decodeQrPng(png)), { url: server.env.PROVISIO_URL, rootSha256, deviceId: 'ZM-0042', token: r.stdout.trim() });
  });

  it('ok/pairing-qr-terminal/draws-the-code-on-stderr-with-a-warning', () => {
    const r = ok(['pairing', 'create', '--system', 'ZMonitor', '--component', 'bedside monitor', '--id', 'DEV-003', '--label', 'Bed 3', '--qr-terminal'], server.env);
    assert.match(r.stderr, /[▀▄█]/);
    assert.match(r.stderr, /this QR code holds the secret/);
    assert.doesNotMatch(r.stdout, /[▀▄█]/, 'stdout holds only the code');
  });

  it('fail/pairing-qr/bad-name-or-existing-file-creates-nothing', () => {
    const before = pairings().length;
    const notPng = provisio(['pairing', 'create', '--system', 'ZMonitor', '--component', 'bedside monitor', '--id', 'DEV-004', '--label', 'Bed 4', '--qr', join(dir, 'x.jpg')], { env: server.env });
    assert.notEqual(notPng.status, 0);
    assert.match(notPng.stderr, /ending in \.png/);
    const existing = join(dir, 'there.png');
    writeFileSync(existing, 'keep me');
    const there = provisio(['pairing', 'create', '--system', 'ZMonitor', '--component', 'bedside monitor', '--id', 'DEV-004', '--label', 'Bed 4', '--qr', existing], { env: server.env });
    assert.notEqual(there.status, 0, transcript(there));
    assert.equal(readFileSync(existing, 'utf8'), 'keep me');
    assert.equal(pairings().length, before, 'no pairing was created');
  });

  it('fail/setup-payload/malformed-refused', () => {
    const good = `provisio-setup:?v=1&url=${encodeURIComponent('https://a.example')}&root=sha256:${'a'.repeat(64)}&id=DEV-1&code=ABCD-2345`;
    assert.equal(parseSetupPayload(good).url, 'https://a.example');
    for (const bad of [
      good.replace('v=1', 'v=2'),
      good.replace('https', 'http'),
      good.replace('sha256:', 'sha1:'),
      good.replace('&id=DEV-1', ''),
      `${good}&token=x`,
      `${good}&code=ZZZZ-2345`,
      'https://a.example/?code=1',
    ]) assert.throws(() => parseSetupPayload(bad), (e: Error & { code?: string }) => e.code === 'setup_malformed', bad);
  });
});
