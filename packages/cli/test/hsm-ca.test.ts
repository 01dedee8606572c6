/**
 * The CA keys in an HSM: SoftHSM2 with a token made for this test in a temp directory. The
 * ceremony makes the intermediate key in the token, the root signs it, `provisio serve` signs
 * with it (certificates, CRLs) and with the OCSP responder and profile signer keys it makes in the
 * same token; openssl checks what they signed, the device SDK checks the certified profile, and
 * pkcs11-tool (OpenSC, not ours) shows the keys never leave the token. Refusals at start-up have
 * stable codes and change nothing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { parseCertificate, publicKeyFingerprint } from '@provisio/pki';
import { defaultModulePath } from '@provisio/server';
import { openssl, tempDir } from '@provisio/testkit';
import { ok, provisio, ROOT_ENV, type ServeProcess, startServe, transcript } from './run-cli.js';

const PIN = '468213';
const URI = 'pkcs11:token=Provisio%20CA;object=issuing-ca';

/** A SoftHSM2 configuration whose token directory is in `dir`, and one initialised token. */
function makeToken(dir: string): Record<string, string> {
  const conf = join(dir, 'softhsm2.conf');
  const tokens = join(dir, 'tokens');
  spawnSync('mkdir', ['-p', tokens]);
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  const env = { SOFTHSM2_CONF: conf };
  const r = spawnSync('softhsm2-util', ['--init-token', '--free', '--label', 'Provisio CA', '--so-pin', '97531864', '--pin', PIN], { env: { ...process.env, ...env }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  return env;
}

function listPrivateKeys(env: Record<string, string>): string {
  const r = spawnSync('pkcs11-tool', ['--module', defaultModulePath() as string, '--token-label', 'Provisio CA', '--login', '--pin', PIN, '--list-objects', '--type', 'privkey'], { env: { ...process.env, ...env }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  return r.stdout;
}

function keySha(certPath: string): string {
  return publicKeyFingerprint(parseCertificate(readFileSync(certPath, 'utf8')).publicKey);
}

/** What a refused start must leave as it was: every table's row count and the audit head. */
function databaseState(db: string): string {
  const sqlite = new Database(db, { readonly: true });
  try {
    const tables = sqlite.prepare('SELECT name FROM sqlite_master WHERE type = \'table\' ORDER BY name').all() as { name: string }[];
    const counts = tables.map(({ name }) => `${name}=${(sqlite.prepare(`SELECT count(*) AS n FROM "${name}"`).get() as { n: number }).n}`);
    return `${counts.join(' ')} head=${JSON.stringify(sqlite.prepare('SELECT * FROM audit_head').all())}`;
  } finally {
    sqlite.close();
  }
}

describe('CA keys in a PKCS#11 token (SoftHSM2)', () => {
  const dir = tempDir('provisio-hsm-');
  const root = join(dir, 'root');
  const ca = join(dir, 'ca');
  const data = join(dir, 'data');
  const pinFile = join(dir, 'pin');
  let env: Record<string, string>;
  let server: ServeProcess | undefined;
  const serveArgs = (uri = URI, pin = pinFile) => ['--data', data, '--ca', ca, '--ca-pkcs11', uri, '--pin-file', pin];

  before(() => {
    env = makeToken(dir);
    writeFileSync(pinFile, `${PIN}\n`, { mode: 0o600 });
    ok(['ca', 'init-root', '--out', root, '--name', 'HSM Root CA'], ROOT_ENV);
  });
  after(async () => server?.stop());

  it('ok/ceremony-in-token/serve-issues-ocsp-profile/openssl-verifies', async () => {
    const made = ok(['ca', 'new-intermediate', '--out', ca, '--pkcs11', URI, '--pin-file', pinFile, '--json'], env);
    const request = JSON.parse(made.stdout);
    assert.deepEqual(request.key, { pkcs11: 'pkcs11:token=Provisio%20CA;object=issuing-ca', extractable: false, sensitive: true });
    assert.ok(!existsSync(join(ca, 'intermediate.key')), 'the key is in the token, not in a file');
    assert.ok(!made.stdout.includes(PIN) && !made.stderr.includes(PIN));
    const shown = JSON.parse(ok(['ca', 'show-key', '--pkcs11', URI, '--pin-file', pinFile, '--json'], env).stdout);
    assert.equal(shown.publicKey.sha256, request.publicKey.sha256);
    assert.equal(shown.extractable, false);

    const sign = provisio(['ca', 'sign-intermediate', '--root', root, '--csr', join(ca, 'intermediate.csr'), '--out', join(ca, 'intermediate.crt')], { env: ROOT_ENV });
    assert.equal(sign.status, 0, transcript(sign));
    assert.ok(sign.stdout.includes(request.publicKey.sha256), sign.stdout);
    copyFileSync(join(root, 'root.crt'), join(ca, 'root.crt'));

    server = await startServe(serveArgs(), { env });
    const log = server.stderr;
    assert.match(log, /issuing CA key in the token: pkcs11:token=Provisio%20CA;object=issuing-ca \(sensitive, not extractable\)/);
    assert.match(log, /profile-signer key in the token: pkcs11:token=Provisio%20CA;object=issuing-ca\.profile-signer \(sensitive, not extractable\)/);
    assert.match(log, /ocsp-responder key in the token: pkcs11:token=Provisio%20CA;object=issuing-ca\.ocsp-responder \(sensitive, not extractable\)/);
    assert.ok(!log.includes(PIN) && !server.stdout.includes(PIN));
    const publishUrl = /CRL and OCSP\s+(http:\/\/[^/\s]+)/.exec(server.stdout)?.[1];
    assert.ok(publishUrl, server.stdout);

    // A device provisioned through the whole pipeline: the CA key in the token signs its certificate.
    const api = server.env;
    ok(['system', 'create', 'Vault'], api);
    ok(['component', 'create', '--system', 'Vault', 'sensor'], api);
    const pkg = join(dir, 'vault.ppkg');
    ok(['package', 'create', '--system', 'Vault', '--out', pkg], api);
    const keystore = join(dir, 'keystore');
    const ppr = join(dir, 'HSM-001.ppr');
    ok(['device', 'init', '--package', pkg, '--component', 'sensor', '--id', 'HSM-001', '--label', 'Vault 1', '--dir', keystore, '--out', ppr], {});
    const id = /accepted as (req_[0-9a-f]+)/.exec(ok(['request', 'upload', ppr], api).stdout)?.[1] as string;
    ok(['user', 'create', 'bob', '--role', 'approver', '--token-out', join(dir, 'bob.token')], api);
    ok(['request', 'approve', id], { ...api, PROVISIO_TOKEN: readFileSync(join(dir, 'bob.token'), 'utf8').trim() });
    const pcp = join(dir, 'HSM-001.pcp');
    ok(['profile', 'download', id, '--out', pcp], api);
    // The device SDK checks the profile's signature (the profile signer key, in the token) and its chain.
    ok(['device', 'install', '--dir', keystore, pcp], {});
    ok(['device', 'complete', 'HSM-001'], api);

    const [leaf] = readFileSync(join(keystore, 'certificate.pem'), 'utf8').split(/(?<=-----END CERTIFICATE-----\n)/);
    writeFileSync(join(dir, 'leaf.pem'), leaf as string);
    const intermediate = join(ca, 'intermediate.crt');
    const rootCrt = join(ca, 'root.crt');
    const chain = openssl(['verify', '-CAfile', rootCrt, '-untrusted', intermediate, join(dir, 'leaf.pem')]);
    assert.match(chain.output, /leaf\.pem: OK/, chain.output);
    const signerCrt = join(data, 'ca', 'profile-signer.crt');
    assert.match(openssl(['verify', '-CAfile', rootCrt, '-untrusted', intermediate, signerCrt]).output, /profile-signer\.crt: OK/);

    // OCSP answered by the delegated responder, whose key is in the token.
    const ocsp = openssl(['ocsp', '-issuer', intermediate, '-cert', join(dir, 'leaf.pem'), '-url', `${publishUrl}/ocsp`, '-CAfile', rootCrt, '-verify_other', intermediate, '-resp_text']);
    assert.match(ocsp.output, /Response verify OK/, ocsp.output);
    assert.match(ocsp.output, /leaf\.pem: good/, ocsp.output);
    const responderCrt = join(data, 'ca', 'ocsp-responder.crt');
    // The response carries the responder certificate: the one whose key the token holds (below).
    const responderBody = readFileSync(responderCrt, 'utf8').replace(/-----[A-Z ]+-----|\s/g, '');
    assert.ok(ocsp.output.replace(/-----[A-Z ]+-----|\s/g, '').includes(responderBody), ocsp.output);

    // Each certificate's key is the token's key under its label, and none is in a file.
    for (const [label, cert] of [['issuing-ca', intermediate], ['issuing-ca.profile-signer', signerCrt], ['issuing-ca.ocsp-responder', responderCrt]] as const) {
      const key = JSON.parse(ok(['ca', 'show-key', '--pkcs11', `pkcs11:token=Provisio%20CA;object=${label}`, '--pin-file', pinFile, '--json'], env).stdout);
      assert.equal(key.publicKey.sha256, keySha(cert), label);
      assert.deepEqual([key.extractable, key.sensitive], [false, true], label);
    }
    assert.ok(!existsSync(join(data, 'ca', 'profile-signer.key')) && !existsSync(join(data, 'ca', 'ocsp-responder.key')));
    const listed = listPrivateKeys(env);
    for (const label of ['issuing-ca', 'issuing-ca.profile-signer', 'issuing-ca.ocsp-responder']) {
      const block = listed.split(/(?=Private Key Object)/).find((b) => new RegExp(`label:\\s+${label.replace('.', '\\.')}\\n`).test(b));
      assert.ok(block, listed);
      assert.match(block, /Access:\s+sensitive, always sensitive, never extractable, local/, block);
    }
    await server.stop();
    server = undefined;

    // A restart reuses the keys in the token: no new key, the same certificates.
    const before = keySha(signerCrt);
    server = await startServe(serveArgs(), { env });
    assert.equal(keySha(signerCrt), before);
    assert.equal(listPrivateKeys(env).match(/Private Key Object/g)?.length, 3);
    await server.stop();
    server = undefined;
  });

  it('fail/serve-and-ceremony-refusals/stable-codes-nothing-changed', () => {
    // Runs after the test above: the data directory and the token hold a working CA.
    const db = join(data, 'provisio.db');
    const state = databaseState(db);
    const keys = listPrivateKeys(env);
    const certs = ['profile-signer.crt', 'ocsp-responder.crt'].map((f) => readFileSync(join(data, 'ca', f), 'utf8'));
    const refused = (args: string[], code: string, status: number, message?: RegExp) => {
      const r = provisio(['serve', '--port', '0', ...args], { env });
      assert.equal(r.status, status, transcript(r));
      assert.match(r.stderr, new RegExp(`\\[${code}\\]`), transcript(r));
      if (message) assert.match(r.stderr, message);
      return r;
    };

    const wrongPin = join(dir, 'wrong-pin');
    writeFileSync(wrongPin, '000000\n', { mode: 0o600 });
    const r = refused(serveArgs(URI, wrongPin), 'pkcs11_login_failed', 4, /CKR_PIN_INCORRECT/);
    assert.ok(!r.stderr.includes('000000') && !r.stderr.includes(PIN), r.stderr);
    refused(serveArgs('pkcs11:token=Provisio%20CA;object=no-such-key'), 'pkcs11_key_not_found', 6);
    refused(serveArgs('pkcs11:token=Other;object=issuing-ca'), 'pkcs11_token_not_found', 6);
    refused(serveArgs('pkcs11:token=Provisio%20CA;object=issuing-ca;pin-value=468213'), 'pkcs11_uri_invalid', 3);
    // A key of the token that is not the intermediate certificate's.
    refused(serveArgs('pkcs11:token=Provisio%20CA;object=issuing-ca.profile-signer'), 'pkcs11_key_mismatch', 3);
    const exposed = join(dir, 'exposed-pin');
    writeFileSync(exposed, `${PIN}\n`);
    chmodSync(exposed, 0o644);
    refused(serveArgs(URI, exposed), 'pin_file_exposed', 5, /chmod 600/);
    refused([...serveArgs(), '--pkcs11-module', join(dir, 'nope.so')], 'pkcs11_module_not_found', 6);

    // The ceremony never replaces a key in the token, and a refusal writes no request.
    const again = provisio(['ca', 'new-intermediate', '--out', join(dir, 'ca2'), '--pkcs11', URI, '--pin-file', pinFile], { env });
    assert.equal(again.status, 7, transcript(again));
    assert.match(again.stderr, /\[pkcs11_key_exists\]/);
    assert.ok(!existsSync(join(dir, 'ca2', 'intermediate.csr')));
    const badPin = provisio(['ca', 'new-intermediate', '--out', join(dir, 'ca3'), '--pkcs11', 'pkcs11:token=Provisio%20CA;object=other', '--pin-file', wrongPin], { env });
    assert.equal(badPin.status, 4, transcript(badPin));
    assert.match(badPin.stderr, /\[pkcs11_login_failed\]/);

    assert.equal(databaseState(db), state);
    assert.equal(listPrivateKeys(env), keys);
    assert.deepEqual(['profile-signer.crt', 'ocsp-responder.crt'].map((f) => readFileSync(join(data, 'ca', f), 'utf8')), certs);
  });
});
