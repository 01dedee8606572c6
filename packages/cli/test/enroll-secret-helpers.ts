/**
 * Shared by the enrollment-token and pairing-code CLI tests: a `provisio serve` with a central
 * station, the keystore checks openssl and curl make, and a snapshot of a directory's files.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openssl } from '@provisio/testkit';

/** The station URL `provisio serve --station-listen` printed. */
export function stationUrlOf(stdout: string): string {
  const m = /Central station (https:\/\/\S+)/.exec(stdout);
  assert.ok(m, stdout);
  return m[1] as string;
}

/** Every file of `dir` with its bytes and mode (null when `dir` does not exist). */
export function snapshot(dir: string): Record<string, string> | null {
  if (!existsSync(dir)) return null;
  return Object.fromEntries(readdirSync(dir).sort().map((f) => [f, `${(statSync(join(dir, f)).mode & 0o777).toString(8)}:${readFileSync(join(dir, f)).toString('base64')}`]));
}

/**
 * What openssl and curl say about an installed keystore: the files are 0600, the certificate
 * chains to the root, names the seed's profile, and opens mutual TLS at the central station.
 */
export function checkInstalledKeystore(dir: string, expected: { rootPath: string; deviceId: string; system: string; label: string; stationUrl: string; keyAlgorithm?: 'EC' | 'RSA' }): void {
  for (const f of readdirSync(dir)) assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600, `${f} is 0600`);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  const chain = readFileSync(join(dir, 'certificate.pem'), 'utf8');
  const [leaf, intermediate] = chain.split(/(?<=-----END CERTIFICATE-----\n)/);
  const tmp = join(dir, '..', `${expected.deviceId}-check`);
  mkdirSync(tmp, { recursive: true });
  const leafPath = join(tmp, 'leaf.pem');
  const intermediatePath = join(tmp, 'intermediate.pem');
  writeFileSync(leafPath, leaf ?? '');
  writeFileSync(intermediatePath, intermediate ?? '');
  const verified = openssl(['verify', '-CAfile', expected.rootPath, '-untrusted', intermediatePath, '-purpose', 'sslclient', leafPath]);
  assert.equal(verified.status, 0, verified.output);
  assert.match(verified.stdout, /: OK/);
  const text = openssl(['x509', '-in', leafPath, '-noout', '-text', '-nameopt', 'RFC2253']).stdout;
  assert.match(text, new RegExp(`Subject: .*CN=${expected.deviceId}`));
  assert.match(text, new RegExp(`Subject: .*OU=${expected.system}`));
  assert.match(text, /TLS Web Client Authentication/);
  assert.match(text, /Digital Signature/);
  if (expected.keyAlgorithm === 'RSA') assert.match(text, /Key Encipherment/);
  assert.match(text, new RegExp(`DirName:.*CN=${expected.deviceId}`));
  assert.match(text, new RegExp(`description=${expected.label}`));
  const curl = spawnSync('curl', [
    '-sS', '--max-time', '20', '-w', '\n%{http_code}',
    '--cert', join(dir, 'certificate.pem'), '--key', join(dir, 'device.key'), '--cacert', expected.rootPath,
    '-H', 'content-type: application/json', '-d', '{"status":"ok","uptimeSeconds":5}',
    `${expected.stationUrl}/api/v1/check-in`,
  ], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(curl.status, 0, curl.stderr);
  const lines = curl.stdout.trim().split('\n');
  assert.equal(lines.at(-1), '200', curl.stdout);
  assert.equal((JSON.parse(lines.slice(0, -1).join('\n')) as { deviceId: string }).deviceId, expected.deviceId);
}
