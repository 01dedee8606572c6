/**
 * `provisio device revoke`, `provisio package revoke --reason` and `provisio crl fetch` against a
 * real service (in this process; the built CLI runs as a child process, asynchronously so the
 * service can answer it). The fetched CRL is checked with `openssl verify -crl_check`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import { parseCrl, systemClock } from '@provisio/pki';
import { openssl, tempDir } from '@provisio/testkit';
import { REQUEST_MEDIA, type TestService, makeRequest, setUpSystem, startTestService } from '../../server/test/service-harness.js';
import type { CliDeps } from '../src/io.js';
import { run } from '../src/run.js';
import { MAIN } from './run-cli.js';

function cli(args: string[], env: Record<string, string>): Promise<{ status: number; stdout: string; stderr: string }> {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PROVISIO_')) base[k] = v;
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { env: { ...base, ...env } }, (error, stdout, stderr) => {
      resolve({ status: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('provisio device revoke, package revoke, crl fetch', () => {
  let t: TestService;
  let env: Record<string, string>;
  let packageText: string;
  let packageId: string;
  const dir = tempDir('provisio-revoke-cli-');

  before(async () => {
    t = await startTestService();
    ({ packageText, packageId } = await setUpSystem(t));
    env = { PROVISIO_URL: t.service.url, PROVISIO_CA_FILE: t.service.rootPath, PROVISIO_TOKEN: t.adminToken };
  });
  after(async () => t.close());

  async function provision(deviceId: string): Promise<string> {
    const { text } = await makeRequest(packageText, deviceId);
    const submitted = await t.call('POST', '/api/v1/requests', { raw: Buffer.from(text), contentType: REQUEST_MEDIA });
    const approved = await t.call('POST', `/api/v1/requests/${submitted.json().request.id}/approve`);
    const path = join(dir, `${deviceId}.crt`);
    writeFileSync(path, approved.json().certificate.pem);
    return path;
  }

  it('ok/device-revoke/crl-fetch-before-passes-after-fails-openssl', async () => {
    const certPath = await provision('CLI-001');
    writeFileSync(join(dir, 'intermediate.crt'), (await t.call('GET', '/ca/intermediate.crt', { token: null })).body);
    const verify = (crl: string) =>
      openssl(['verify', '-crl_check', '-CAfile', t.service.rootPath, '-untrusted', join(dir, 'intermediate.crt'), '-CRLfile', crl, certPath]);

    let r = await cli(['crl', 'fetch', '--out', join(dir, 'before.pem'), '--pem'], env);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /CRL number \d+: .*before\.pem \(PEM, \d+ revoked\)/);
    assert.equal(statSync(join(dir, 'before.pem')).mode & 0o777, 0o644);
    assert.match(verify(join(dir, 'before.pem')).output, /: OK/);

    // No terminal and no --yes: refused, nothing revoked.
    r = await cli(['device', 'revoke', 'CLI-001', '--reason', 'keyCompromise'], env);
    assert.equal(r.status, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /--yes/);
    assert.equal((await t.call('GET', '/api/v1/devices/CLI-001')).json().state, 'approved');

    r = await cli(['device', 'revoke', 'CLI-001', '--reason', 'certificateHold', '--yes'], env);
    assert.equal(r.status, 3, r.stdout + r.stderr);
    assert.match(r.stderr, /\[revocation_reason_invalid\]/);
    r = await cli(['device', 'revoke', 'NOPE-1', '--reason', 'superseded', '--yes'], env);
    assert.equal(r.status, 6, r.stdout + r.stderr);
    assert.match(r.stderr, /\[device_not_found\]/);

    r = await cli(['device', 'revoke', 'CLI-001', '--reason', 'keyCompromise', '--yes'], env);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Device CLI-001 revoked \(keyCompromise\): certificate [0-9a-f]+ revoked; CRL number \d+ published/);
    assert.match(r.stdout, /device init --reset/);
    r = await cli(['device', 'revoke', 'CLI-001', '--reason', 'keyCompromise', '--yes', '--json'], env);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).changed, false);

    r = await cli(['crl', 'fetch', '--out', join(dir, 'after.crl'), '--json'], env);
    assert.equal(r.status, 0, r.stderr);
    const summary = JSON.parse(r.stdout);
    assert.equal(summary.format, 'der');
    assert.equal(summary.revoked, 1);
    assert.equal(parseCrl(readFileSync(join(dir, 'after.crl'))).crlNumber?.toString(), summary.crlNumber);
    assert.ok(openssl(['crl', '-inform', 'DER', '-in', join(dir, 'after.crl'), '-out', join(dir, 'after.pem')]).status === 0);
    const failed = verify(join(dir, 'after.pem'));
    assert.match(failed.output, /certificate revoked/, failed.output);
  });

  it('ok/device-revoke/typing-the-device-id-on-a-terminal-confirms', async () => {
    await provision('CLI-002');
    // In-process with a fake terminal (the child-process runs above have none).
    const session = (answer: string) => {
      const out: string[] = [];
      const err: string[] = [];
      const prompts: string[] = [];
      const deps: CliDeps = {
        clock: systemClock,
        random: { bytes: (n: number) => randomBytes(n) },
        env,
        stdout: { write: (text) => void out.push(text), isTTY: false },
        stderr: { write: (text) => void err.push(text), isTTY: false },
        readStdin: async () => Buffer.alloc(0),
        terminal: {
          readSecret: async (prompt) => {
            prompts.push(prompt);
            return answer;
          },
        },
        version: '0.0.0-test',
      };
      return { deps, out, err, prompts };
    };
    const wrong = session('CLI-00');
    assert.equal(await run(['device', 'revoke', 'CLI-002', '--reason', 'superseded'], wrong.deps), 2);
    assert.match(wrong.prompts[0] ?? '', /type the device id \(CLI-002\)/);
    assert.match(wrong.err.join(''), /nothing was revoked/);
    assert.equal((await t.call('GET', '/api/v1/devices/CLI-002')).json().state, 'approved');
    const right = session('CLI-002');
    assert.equal(await run(['device', 'revoke', 'CLI-002', '--reason', 'superseded'], right.deps), 0, right.err.join(''));
    assert.match(right.out.join(''), /Device CLI-002 revoked \(superseded\)/);
    assert.equal((await t.call('GET', '/api/v1/devices/CLI-002')).json().state, 'revoked');
  });

  it('ok/package-revoke-with-reason', async () => {
    const r = await cli(['package', 'revoke', packageId, '--reason', 'keyCompromise', '--json'], env);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).status, 'revoked');
    const audit = (await t.call('GET', `/api/v1/audit?action=package.revoke&target=${packageId}`)).json().items[0];
    assert.equal(audit.details.reason, 'keyCompromise');
  });

  it('fail/serve/crl-interval-out-of-range', async () => {
    for (const value of ['5s', '8d', 'soon']) {
      const r = await cli(['serve', '--data', join(dir, 'never'), '--port', '0', '--crl-interval', value], {});
      assert.equal(r.status, 2, r.stdout + r.stderr);
      assert.match(r.stderr, /--crl-interval must be a duration from 1m to 7d/);
    }
  });
});
