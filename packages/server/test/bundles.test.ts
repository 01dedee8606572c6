/**
 * Bundles through the real HTTPS API: a technician uploads a request bundle (good and bad entries
 * side by side, a tampered or foreign bundle storing nothing) and takes back a profile bundle
 * signed by the profile signer, checked with the root, `openssl verify` and each profile's own
 * verification. SQLite, and the same flow on PostgreSQL.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createKeySigner, generateKey, parseCertificate, randomSerial, type Signer } from '@provisio/pki';
import {
  BUNDLE_MEDIA_TYPE,
  createBundle,
  openPackage,
  parseBundle,
  parseCertifiedProfile,
  parsePackage,
  verifyBundle,
  verifyCertifiedProfile,
} from '@provisio/protocol';
import { createTestPki, openssl, seededRandom, tempDir } from '@provisio/testkit';
import { type TestService, makeRequest, pem, setUpSystem, startTestService } from './service-harness.js';

const PG_URL = process.env.PROVISIO_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A request bundle as `provisio request bundle` makes it: signed with the package's bootstrap credential. */
async function requestBundle(
  packageText: string,
  files: ReadonlyArray<{ name: string; text: string }>,
  options: { packageId?: string; signer?: Signer; chain?: Buffer[] } = {},
): Promise<Buffer> {
  const pkg = parsePackage(packageText);
  const opened = openPackage(pkg, new Date());
  const text = await createBundle({
    type: 'provisio.request-bundle',
    packageId: options.packageId ?? pkg.packageId,
    createdAt: new Date(),
    entries: files.map((f) => ({ name: f.name, content: Buffer.from(f.text) })),
    signer: options.signer ?? opened.bootstrapSigner,
    signerChain: options.chain ?? opened.bootstrapChain.map((c) => c.der),
  });
  return Buffer.from(text);
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** ECDSA r || s (RFC 7518 §3.4) as DER Ecdsa-Sig-Value for openssl, written here independently of the protocol code. */
function joseToDer(sig: Buffer): Buffer {
  const half = sig.length / 2;
  const int = (b: Buffer) => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    let v = b.subarray(i);
    if ((v[0] as number) & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
    return Buffer.concat([Buffer.from([0x02, v.length]), v]);
  };
  const body = Buffer.concat([int(sig.subarray(0, half)), int(sig.subarray(half))]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

function bundleSuite(label: string, open: () => Promise<{ db?: string; cleanup?: () => Promise<void> }>, full: boolean) {
  describe(`bundles through the API (${label})`, () => {
    let t: TestService;
    let cleanup: (() => Promise<void>) | undefined;
    let packageText: string;
    const tokens: Record<string, string> = {};

    before(async () => {
      const db = await open();
      cleanup = db.cleanup;
      t = await startTestService(db.db ? { db: db.db } : {});
      ({ packageText } = await setUpSystem(t));
      for (const role of ['technician', 'auditor', 'approver']) {
        const r = await t.call('POST', '/api/v1/users', { json: { username: `bundle-${role}`, role } });
        assert.equal(r.status, 201, r.body.toString());
        tokens[role] = r.json().token;
      }
    });
    after(async () => {
      await t?.close();
      await cleanup?.();
    });

    const upload = (body: Buffer, token = tokens.technician) => t.call('POST', '/api/v1/requests', { raw: body, contentType: BUNDLE_MEDIA_TYPE, token: token ?? null });
    const counts = async () => ({
      requests: (await t.call('GET', '/api/v1/requests?limit=1')).json().total as number,
      audit: (await t.call('GET', '/api/v1/audit?limit=1')).json().total as number,
    });

    it('ok/upload-verdict-per-entry-then-profile-bundle-verifies', async () => {
      const devices = await Promise.all(['BDL-1', 'BDL-2', 'BDL-3'].map((id) => makeRequest(packageText, id)));
      const [one, two, three] = devices as [Awaited<ReturnType<typeof makeRequest>>, Awaited<ReturnType<typeof makeRequest>>, Awaited<ReturnType<typeof makeRequest>>];
      // Uploaded alone before: inside the bundle it is a duplicate, answered with the same request.
      const single = await t.call('POST', '/api/v1/requests', { raw: Buffer.from(three.text), contentType: 'application/vnd.provisio.request+json', token: tokens.technician ?? null });
      assert.equal(single.status, 201, single.body.toString());
      const longAgo = new Date(Date.now() - 2 * 3600_000);
      const expired = await makeRequest(packageText, 'BDL-OLD', { createdAt: longAgo, expiresAt: new Date(longAgo.getTime() + 3600_000) });
      const other = await setUpSystem(t, 'OtherSystem', 'unit');
      const foreign = await makeRequest(other.packageText, 'BDL-FOREIGN');
      const jws = JSON.parse(two.text);
      const payload = JSON.parse(Buffer.from(jws.payload, 'base64url').toString());
      const tampered = JSON.stringify({ ...jws, payload: Buffer.from(JSON.stringify({ ...payload, deviceId: 'BDL-EVIL' })).toString('base64url') });

      const before = await counts();
      const r = await upload(await requestBundle(packageText, [
        { name: 'BDL-1.ppr', text: one.text },
        { name: 'BDL-OLD.ppr', text: expired.text },
        { name: 'BDL-2.ppr', text: two.text },
        { name: 'BDL-EVIL.ppr', text: tampered },
        { name: 'BDL-FOREIGN.ppr', text: foreign.text },
        { name: 'BDL-3.ppr', text: three.text },
      ]));
      assert.equal(r.status, 200, r.body.toString());
      const body = r.json();
      assert.deepEqual(
        body.entries.map((e: { name: string; ok: boolean; created?: boolean; error?: { code: string } }) => [e.name, e.ok ? (e.created ? 'created' : 'duplicate') : e.error?.code]),
        [
          ['BDL-1.ppr', 'created'],
          ['BDL-OLD.ppr', 'pr_expired'],
          ['BDL-2.ppr', 'created'],
          ['BDL-EVIL.ppr', 'pr_device_signature_invalid'],
          ['BDL-FOREIGN.ppr', 'package_mismatch'],
          ['BDL-3.ppr', 'duplicate'],
        ],
      );
      assert.deepEqual([body.created, body.duplicate, body.refused, body.bundle.entries], [2, 1, 3, 6]);
      assert.equal(body.entries[5].request.id, single.json().request.id);
      // Two requests stored; each has its request.submit entry, plus one request.bundle entry.
      const after = await counts();
      assert.deepEqual(after, { requests: before.requests + 2, audit: before.audit + 3 });
      const audit = (await t.call('GET', '/api/v1/audit?action=request.bundle')).json().items[0];
      assert.equal(audit.targetId, body.bundle.sha256);
      assert.equal((await t.call('GET', '/api/v1/devices/BDL-EVIL')).status, 404);
      assert.equal((await t.call('GET', '/api/v1/devices/BDL-OLD')).status, 404);

      // The approver approves two of the three; the technician asks by the request files' hashes.
      const ids = body.entries.filter((e: { ok: boolean }) => e.ok).map((e: { request: { id: string } }) => e.request.id) as string[];
      for (const id of ids.slice(0, 2)) assert.equal((await t.call('POST', `/api/v1/requests/${id}/approve`, { token: tokens.approver ?? null })).status, 200);
      const unknown = 'f'.repeat(64);
      const p = await t.call('POST', '/api/v1/profiles/bundle', { json: { contentSha256: [sha256(one.text), sha256(two.text), sha256(three.text), unknown] }, token: tokens.technician ?? null });
      assert.equal(p.status, 200, p.body.toString());
      const result = p.json();
      assert.deepEqual(result.included.map((i: { name: string }) => i.name), ['BDL-1.pcp', 'BDL-2.pcp']);
      assert.deepEqual(result.notReady.map((n: { code: string; deviceId: string | null; state: string | null }) => [n.code, n.deviceId, n.state]), [
        ['profile_not_found', 'BDL-3', 'pending'],
        ['request_not_found', null, null],
      ]);

      const bundle = parseBundle(result.bundle);
      const root = parseCertificate(t.rootPem);
      verifyBundle(bundle, { roots: [root], at: new Date(), type: 'provisio.profile-bundle' });
      for (const [i, entry] of bundle.entries.entries()) {
        const device = devices[i] as { deviceKey: Signer };
        verifyCertifiedProfile(parseCertifiedProfile(entry.content), { root, deviceId: `BDL-${i + 1}`, devicePublicKey: device.deviceKey.publicKey, at: new Date() });
      }
      // The signer in the bundle is the service's profile signer, chaining to the root for openssl too.
      const dir = tempDir();
      writeFileSync(join(dir, 'root.pem'), t.rootPem);
      writeFileSync(join(dir, 'int.pem'), pem(bundle.signerChain[1]?.der ?? Buffer.alloc(0)));
      writeFileSync(join(dir, 'signer.pem'), pem(bundle.signerChain[0]?.der ?? Buffer.alloc(0)));
      const v = openssl(['verify', '-x509_strict', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'int.pem'), join(dir, 'signer.pem')]);
      assert.match(v.output, /signer\.pem: OK/, v.output);
      assert.match(openssl(['x509', '-in', join(dir, 'signer.pem'), '-noout', '-subject']).stdout, /Provisio profile signer/);
      // openssl also checks the manifest signature (ES256 over the JWS signing input) with that
      // certificate's key, and each entry's SHA-256 against the signed manifest.
      const sig = bundle.jws.signatures[0] as { protected: string; signature: string };
      writeFileSync(join(dir, 'input'), `${sig.protected}.${bundle.jws.payload}`);
      writeFileSync(join(dir, 'sig'), joseToDer(Buffer.from(sig.signature, 'base64url')));
      writeFileSync(join(dir, 'pub.pem'), openssl(['x509', '-in', join(dir, 'signer.pem'), '-noout', '-pubkey']).stdout);
      assert.match(openssl(['dgst', '-sha256', '-verify', join(dir, 'pub.pem'), '-signature', join(dir, 'sig'), join(dir, 'input')]).output, /Verified OK/);
      for (const entry of bundle.entries) {
        writeFileSync(join(dir, entry.name), entry.content);
        assert.match(openssl(['dgst', '-sha256', join(dir, entry.name)]).stdout, new RegExp(`= ${entry.sha256}$`, 'm'));
      }

      // A rejected request says so.
      const id3 = ids[2] as string;
      assert.equal((await t.call('POST', `/api/v1/requests/${id3}/reject`, { json: { reason: 'unknown serial' } })).status, 200);
      const q = (await t.call('POST', '/api/v1/profiles/bundle', { json: { requestIds: [id3] }, token: tokens.technician ?? null })).json();
      assert.equal(q.bundle, null);
      assert.equal(q.notReady[0].code, 'request_rejected');
      assert.match(q.notReady[0].message, /unknown serial/);
      assert.equal((await t.call('GET', '/api/v1/audit/verify')).json().ok, true);
    });

    it('fail/tampered-or-foreign-bundle-stores-nothing', async () => {
      const a = await makeRequest(packageText, 'TMP-1');
      const b = await makeRequest(packageText, 'TMP-2');
      const good = JSON.parse((await requestBundle(packageText, [{ name: 'TMP-1.ppr', text: a.text }, { name: 'TMP-2.ppr', text: b.text }])).toString());
      const cases: Array<[string, Buffer, number, string]> = [];
      // An entry swapped for another request after signing.
      const c = await makeRequest(packageText, 'TMP-3');
      cases.push(['changed entry', Buffer.from(JSON.stringify({ ...good, entries: [good.entries[0], { name: 'TMP-2.ppr', content: Buffer.from(c.text).toString('base64') }] })), 401, 'bundle_hash_mismatch']);
      cases.push(['added entry', Buffer.from(JSON.stringify({ ...good, entries: [...good.entries, { name: 'TMP-3.ppr', content: Buffer.from(c.text).toString('base64') }] })), 401, 'bundle_hash_mismatch']);
      cases.push(['removed entry', Buffer.from(JSON.stringify({ ...good, entries: [good.entries[0]] })), 401, 'bundle_hash_mismatch']);
      // The manifest edited to match the swapped entry: the signature no longer verifies.
      const manifest = JSON.parse(Buffer.from(good.manifest.payload, 'base64url').toString());
      manifest.entries[1] = { name: 'TMP-2.ppr', sha256: sha256(c.text), size: Buffer.byteLength(c.text) };
      cases.push(['edited manifest', Buffer.from(JSON.stringify({ manifest: { ...good.manifest, payload: Buffer.from(JSON.stringify(manifest)).toString('base64url') }, entries: [good.entries[0], { name: 'TMP-2.ppr', content: Buffer.from(c.text).toString('base64') }] })), 401, 'bundle_signature_invalid']);
      // Signed by an attacker's own PKI, with a bootstrap certificate of the right purpose.
      const evil = await createTestPki({ now: new Date(), random: seededRandom('evil-bundle') });
      const evilKey = createKeySigner((await generateKey('p256')).privateKey);
      const evilCert = await evil.intermediate.issuer.issue({ profile: { kind: 'bootstrap' }, serial: randomSerial(seededRandom('evil-serial')), subject: [{ type: 'CN', value: 'bootstrap' }], publicKey: evilKey.publicKey, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000) });
      cases.push(['foreign signer', await requestBundle(packageText, [{ name: 'TMP-1.ppr', text: a.text }], { signer: evilKey, chain: [evilCert.der, evil.intermediate.certificate.der] }), 401, 'bundle_untrusted']);
      // Genuine bootstrap credential, but the manifest claims another package of this service.
      const other = await setUpSystem(t, 'ThirdSystem', 'unit');
      cases.push(['claims another package', await requestBundle(packageText, [{ name: 'TMP-1.ppr', text: a.text }], { packageId: other.packageId }), 401, 'bundle_untrusted']);
      cases.push(['not JSON', Buffer.from('{"manifest":'), 400, 'bundle_malformed']);

      for (const [what, body, status, code] of cases) {
        const before = await counts();
        const r = await upload(body);
        assert.equal(r.status, status, `${what}: ${r.body}`);
        assert.equal(r.json().error.code, code, `${what}: ${r.body}`);
        assert.deepEqual(await counts(), before, `${what}: a refused bundle changed state`);
      }
      assert.equal((await t.call('GET', '/api/v1/devices/TMP-1')).status, 404);
    });

    if (!full) return;

    it('fail/revoked-package-bundle-stores-nothing', async () => {
      const extra = await t.call('POST', '/api/v1/packages', { json: { system: 'ZMonitor' } });
      const text = extra.body.toString();
      const req = await makeRequest(text, 'REV-1');
      assert.equal((await t.call('POST', `/api/v1/packages/${extra.headers['x-package-id']}/revoke`)).status, 200);
      const before = await counts();
      const r = await upload(await requestBundle(text, [{ name: 'REV-1.ppr', text: req.text }]));
      assert.equal(r.status, 401, r.body.toString());
      assert.equal(r.json().error.code, 'package_revoked');
      assert.deepEqual(await counts(), before);
    });

    it('fail/roles/auditor-refused-technician-allowed', async () => {
      const req = await makeRequest(packageText, 'ROLE-1');
      const body = await requestBundle(packageText, [{ name: 'ROLE-1.ppr', text: req.text }]);
      let r = await upload(body, tokens.auditor);
      assert.equal(r.status, 403, r.body.toString());
      r = await t.call('POST', '/api/v1/profiles/bundle', { json: { requestIds: ['req_x'] }, token: tokens.auditor ?? null });
      assert.equal(r.status, 403, r.body.toString());
      r = await upload(body, undefined);
      assert.equal(r.status, 200, r.body.toString());
      assert.equal(r.json().created, 1);
    });

    it('fail/limits/request-type-keeps-its-64-KiB-limit', async () => {
      const r = await t.call('POST', '/api/v1/requests', { raw: Buffer.alloc(64 * 1024 + 1, 0x20), contentType: 'application/vnd.provisio.request+json' });
      assert.equal(r.status, 413, r.body.toString());
      assert.equal(r.json().error.code, 'body_too_large');
      const doc = (await t.call('GET', '/openapi.json', { token: null })).json();
      const content = doc.paths['/api/v1/requests'].post.requestBody.content;
      assert.equal(content[BUNDLE_MEDIA_TYPE].schema.maxLength, 64 * 1024 * 1024);
      assert.equal(content['application/vnd.provisio.request+json'].schema.maxLength, 64 * 1024);
      assert.ok(doc.paths['/api/v1/profiles/bundle'].post);
      const empty = await t.call('POST', '/api/v1/profiles/bundle', { json: {}, token: tokens.technician ?? null });
      assert.equal(empty.status, 400);
      assert.equal(empty.json().error.code, 'validation_failed');
    });
  });
}

bundleSuite('SQLite', async () => ({}), true);

const pgReachable = await (async () => {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
})();
if (!pgReachable && process.env.CI !== 'true') {
  console.error(`\n!!! SKIPPING the PostgreSQL bundle flow: PostgreSQL is not reachable at ${PG_URL}; set PROVISIO_TEST_PG_URL\n`);
} else {
  bundleSuite('PostgreSQL', async () => {
    const name = `provisio_bundle_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    const url = new URL(PG_URL);
    url.pathname = `/${name}`;
    return {
      db: url.toString(),
      cleanup: async () => {
        await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await admin.end();
      },
    };
  }, false);
}
