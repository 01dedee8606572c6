import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { exportPrivateKeyPem, generateKey, isProvisioError, encodePem, createKeySigner } from '@provisio/pki';
import { DAY } from '@provisio/testkit';
import {
  base64url,
  certificateChainPem,
  createProvisioningRequest,
  MAX_PACKAGE_BYTES,
  openPackage,
  PACKAGE_NOTICE,
  parsePackage,
  parseProvisioningRequest,
  type ProvisioningPackage,
  serializePackage,
  verifyProvisioningRequest,
} from './index.js';
import { type Credential, createDevice, createFixture, type Fixture, issueCredential, NOW, requestPayload } from '../test/fixtures.js';

const isCode = (code: string) => (e: unknown) => isProvisioError(e) && e.code === code;

describe('provisioning package', () => {
  let fx: Fixture;
  let pkg: ProvisioningPackage;

  function makePackage(bootstrap: Credential, overrides: Partial<ProvisioningPackage> = {}, f = fx): ProvisioningPackage {
    return {
      format: 'provisio.package',
      v: 1,
      packageId: 'pkg_0123456789abcdef0123456789abcdef',
      system: 'ZMonitor',
      components: [
        { name: 'bedside monitor', keyTypes: ['p256', 'rsa3072'], validityDays: 365 },
        { name: 'central station', keyTypes: ['p384'], validityDays: 825 },
      ],
      rootOfTrust: encodePem('CERTIFICATE', f.pki.root.certificate.der),
      serviceUrl: 'https://provisio.example:8443',
      requestLifetimeSeconds: 7 * 86_400,
      keyTemplate: { defaultKeyType: 'p256' },
      bootstrap: {
        certificateChain: certificateChainPem([bootstrap.certificate.der, f.pki.intermediate.certificate.der]),
        privateKey: exportPrivateKeyPem(bootstrap.key.privateKey),
      },
      createdAt: NOW.toISOString(),
      expiresAt: new Date(NOW.getTime() + 90 * DAY).toISOString(),
      notice: PACKAGE_NOTICE,
      ...overrides,
    };
  }

  before(async () => {
    fx = await createFixture('package');
    pkg = makePackage(fx.bootstrap);
  });

  it('ok/package/round-trip', () => {
    const text = serializePackage(pkg);
    assert.deepEqual(parsePackage(text), pkg);
    assert.deepEqual(parsePackage(Buffer.from(text)), pkg);
    assert.deepEqual(Object.keys(JSON.parse(text) as object).slice(0, 3), ['format', 'v', 'packageId']);
    assert.ok(text.endsWith('}\n'));
  });

  it('ok/package/open-and-make-a-request-the-verifier-accepts', async () => {
    // The whole device side: open the package, sign a request with its bootstrap credential.
    const opened = openPackage(parsePackage(serializePackage(pkg)), NOW);
    assert.ok(opened.root.der.equals(fx.pki.root.certificate.der));
    assert.equal(opened.bootstrapChain.length, 2);
    assert.equal(opened.expiresAt.toISOString(), pkg.expiresAt);
    const device = await createDevice();
    const text = await createProvisioningRequest({
      payload: requestPayload(device, {
        expiresAt: new Date(NOW.getTime() + pkg.requestLifetimeSeconds * 1000).toISOString(),
        nonce: base64url(Buffer.alloc(16, 1)),
      }),
      device: device.signer,
      bootstrap: opened.bootstrapSigner,
      bootstrapChain: opened.bootstrapChain.map((c) => c.der),
    });
    verifyProvisioningRequest(parseProvisioningRequest(text), { at: NOW, roots: [fx.pki.root.certificate] });
  });

  it('fail/package/expired', async () => {
    openPackage(pkg, new Date(NOW.getTime() + 90 * DAY - 1));
    assert.throws(() => openPackage(pkg, new Date(NOW.getTime() + 90 * DAY)), isCode('package_expired'));
    // The bootstrap certificate expires before the package says it does.
    const short = await issueCredential(fx.pki.intermediate, { kind: 'bootstrap' }, 'short bootstrap', { days: 10 });
    const p = makePackage(short);
    openPackage(p, NOW);
    assert.throws(() => openPackage(p, new Date(NOW.getTime() + 20 * DAY)), isCode('package_expired'));
  });

  it('fail/package/untrusted', async () => {
    // A bootstrap credential from another PKI under our root of trust.
    const foreign = makePackage(fx.other.bootstrap, {
      bootstrap: {
        certificateChain: certificateChainPem([fx.other.bootstrap.certificate.der, fx.other.pki.intermediate.certificate.der]),
        privateKey: exportPrivateKeyPem(fx.other.bootstrap.key.privateKey),
      },
    });
    assert.throws(() => openPackage(foreign, NOW), isCode('package_untrusted'));
    // A profile signer (wrong purpose) used as the bootstrap credential.
    assert.throws(() => openPackage(makePackage(fx.profileSigner), NOW), isCode('package_untrusted'));
    // A bootstrap certificate that is not valid yet.
    const later = await issueCredential(fx.pki.intermediate, { kind: 'bootstrap' }, 'later', { notBefore: new Date(NOW.getTime() + DAY) });
    assert.throws(() => openPackage(makePackage(later), NOW), isCode('package_untrusted'));
  });

  describe('malformed', () => {
    const refused = (text: string | Uint8Array, code = 'package_malformed') => {
      assert.throws(() => parsePackage(text), (e: unknown) => {
        assert.ok(isProvisioError(e), `not a ProvisioError: ${String(e)}`);
        assert.equal(e.code, code, e.message);
        return true;
      });
    };
    const edited = (edit: (p: Record<string, unknown>) => void) => {
      const p = JSON.parse(serializePackage(pkg)) as Record<string, unknown>;
      edit(p);
      return JSON.stringify(p);
    };

    it('fail/package/not-json', () => {
      for (const text of ['', 'garbage', '[]', 'null', serializePackage(pkg).slice(0, 200)]) refused(text);
      refused('x'.repeat(MAX_PACKAGE_BYTES + 1));
    });

    it('fail/package/fields', async () => {
      const otherKey = exportPrivateKeyPem((await generateKey('p256')).privateKey);
      const encryptedKey = exportPrivateKeyPem(fx.bootstrap.key.privateKey, 'correct horse battery');
      const edits: Array<[string, (p: Record<string, unknown>) => void]> = [
        ['extra', (p) => (p.extra = true)],
        ['missing', (p) => delete p.notice],
        ['format', (p) => (p.format = 'provisio.profile')],
        ['packageId', (p) => (p.packageId = '')],
        ['system', (p) => (p.system = 'a/b')],
        ['components empty', (p) => (p.components = [])],
        ['component extra', (p) => ((p.components as Array<Record<string, unknown>>)[0] as Record<string, unknown>).extra = 1],
        ['component twice', (p) => (p.components = [(p.components as unknown[])[0], (p.components as unknown[])[0]])],
        ['key type', (p) => ((p.components as Array<Record<string, unknown>>)[0] as Record<string, unknown>).keyTypes = ['ed25519']],
        ['key types empty', (p) => ((p.components as Array<Record<string, unknown>>)[0] as Record<string, unknown>).keyTypes = []],
        ['key type twice', (p) => ((p.components as Array<Record<string, unknown>>)[0] as Record<string, unknown>).keyTypes = ['p256', 'p256']],
        ['validity 0', (p) => ((p.components as Array<Record<string, unknown>>)[0] as Record<string, unknown>).validityDays = 0],
        ['validity fraction', (p) => ((p.components as Array<Record<string, unknown>>)[0] as Record<string, unknown>).validityDays = 1.5],
        ['root garbage', (p) => (p.rootOfTrust = 'not pem')],
        ['root two certs', (p) => (p.rootOfTrust = `${p.rootOfTrust as string}${p.rootOfTrust as string}`)],
        ['root text around', (p) => (p.rootOfTrust = `root:\n${p.rootOfTrust as string}`)],
        ['serviceUrl', (p) => (p.serviceUrl = 'ftp://provisio.example')],
        ['lifetime', (p) => (p.requestLifetimeSeconds = 0)],
        ['lifetime text', (p) => (p.requestLifetimeSeconds = '3600')],
        ['default key type', (p) => (p.keyTemplate = { defaultKeyType: 'rsa1024' })],
        ['bootstrap extra', (p) => ((p.bootstrap as Record<string, unknown>).passphrase = 'x')],
        ['bootstrap chain empty', (p) => ((p.bootstrap as Record<string, unknown>).certificateChain = '')],
        ['bootstrap chain a key', (p) => ((p.bootstrap as Record<string, unknown>).certificateChain = otherKey)],
        ['bootstrap key of another', (p) => ((p.bootstrap as Record<string, unknown>).privateKey = otherKey)],
        ['bootstrap key encrypted', (p) => ((p.bootstrap as Record<string, unknown>).privateKey = encryptedKey)],
        ['bootstrap key garbage', (p) => ((p.bootstrap as Record<string, unknown>).privateKey = 'key')],
        ['createdAt', (p) => (p.createdAt = 'yesterday')],
        ['expires before created', (p) => (p.expiresAt = p.createdAt)],
        ['notice', (p) => (p.notice = '')],
      ];
      for (const [what, edit] of edits) {
        assert.throws(() => parsePackage(edited(edit)), isCode('package_malformed'), what);
      }
    });

    it('fail/package/unknown-version', () => {
      refused(edited((p) => (p.v = 2)), 'package_version_unsupported');
      refused(edited((p) => (p.v = '1')));
    });

    it('fail/package/serialize-refuses-what-parse-would', () => {
      assert.throws(() => serializePackage({ ...pkg, system: '' }), isCode('package_malformed'));
      const privateKey = exportPrivateKeyPem(fx.other.bootstrap.key.privateKey);
      assert.throws(() => openPackage({ ...pkg, bootstrap: { ...pkg.bootstrap, privateKey } }, NOW), isCode('package_malformed'));
    });
  });

  it('ok/package/signer-signs', async () => {
    const opened = openPackage(pkg, NOW);
    const plain = createKeySigner(fx.bootstrap.key.privateKey);
    assert.ok(opened.bootstrapSigner.publicKey.spki.equals(plain.publicKey.spki));
  });
});
