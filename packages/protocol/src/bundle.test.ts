import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { isProvisioError, type ParsedCertificate } from '@provisio/pki';
import { DAY } from '@provisio/testkit';
import { createFixture, type Credential, editJson, type Fixture, NOW } from '../test/fixtures.js';
import { base64url, signJws } from './jws.js';
import { type BundleType, createBundle, MAX_BUNDLE_BYTES, MAX_BUNDLE_ENTRIES, parseBundle, verifyBundle } from './bundle.js';

const isCode = (code: string) => (e: unknown) => isProvisioError(e) && e.code === code;

/** Three small "request files": the bundle carries bytes and does not read them. */
const FILES = [
  { name: 'DEV-001.ppr', content: Buffer.from('{"request":"one"}\n') },
  { name: 'DEV-002.ppr', content: Buffer.from('{"request":"two"}\n') },
  { name: 'DEV-003.ppr', content: Buffer.from('{"request":"three"}\n') },
];

type Entries = ReadonlyArray<{ name: string; content: Uint8Array }>;
type Bundle = { manifest: { payload: string; signatures: Array<{ protected: string; signature: string }> }; entries: Array<{ name: string; content: string }> };

describe('bundle', () => {
  let fx: Fixture;
  let root: ParsedCertificate;
  let requestBundle: string;

  const make = (options: { type?: BundleType; signer?: Credential; entries?: Entries; packageId?: string | null; issuing?: ParsedCertificate } = {}) => {
    const type = options.type ?? 'provisio.request-bundle';
    const signer = options.signer ?? (type === 'provisio.request-bundle' ? fx.bootstrap : fx.profileSigner);
    return createBundle({
      type,
      packageId: options.packageId !== undefined ? options.packageId : type === 'provisio.request-bundle' ? 'pkg_1' : null,
      createdAt: NOW,
      entries: options.entries ?? FILES,
      signer: signer.signer,
      signerChain: [signer.certificate.der, (options.issuing ?? fx.pki.intermediate.certificate).der],
    });
  };
  const verify = (text: string, options: { at?: Date; root?: ParsedCertificate; type?: BundleType } = {}) =>
    verifyBundle(parseBundle(text), { roots: [options.root ?? root], at: options.at ?? NOW, ...(options.type ? { type: options.type } : {}) });
  const edit = (text: string, change: (b: Bundle) => void) => editJson(text, (v) => change(v as unknown as Bundle));
  /** Replaces the manifest payload, keeping the old signature: a forger without the key. */
  const editManifest = (text: string, change: (m: Record<string, unknown>) => void) =>
    edit(text, (b) => {
      const m = JSON.parse(Buffer.from(b.manifest.payload, 'base64url').toString('utf8')) as Record<string, unknown>;
      change(m);
      b.manifest.payload = base64url(Buffer.from(JSON.stringify(m), 'utf8'));
    });

  before(async () => {
    fx = await createFixture('bundle');
    root = fx.pki.root.certificate;
    requestBundle = await make();
  });

  it('ok/request-bundle/round-trip', () => {
    const b = parseBundle(requestBundle);
    verifyBundle(b, { roots: [root], at: NOW, type: 'provisio.request-bundle' });
    assert.equal(b.manifest.type, 'provisio.request-bundle');
    assert.equal(b.manifest.packageId, 'pkg_1');
    assert.deepEqual(b.entries.map((e) => [e.name, e.content.toString()]), FILES.map((f) => [f.name, f.content.toString()]));
    assert.equal(b.signerChain[0]?.fingerprint, fx.bootstrap.certificate.fingerprint);
  });

  it('ok/entry-hash-is-sha256-of-the-exact-bytes', () => {
    const b = parseBundle(requestBundle);
    for (const [i, f] of FILES.entries()) {
      assert.equal(b.entries[i]?.sha256, createHash('sha256').update(f.content).digest('hex'));
      assert.equal(b.entries[i]?.size, f.content.length);
    }
  });

  it('ok/profile-bundle/round-trip-signed-by-profile-signer', async () => {
    const text = await make({ type: 'provisio.profile-bundle', entries: [{ name: 'DEV-001.pcp', content: Buffer.from('profile') }] });
    verify(text, { type: 'provisio.profile-bundle' });
    assert.equal(parseBundle(text).manifest.packageId, null);
  });

  it('fail/tamper/changed-entry-byte', () => {
    const text = edit(requestBundle, (b) => {
      const bytes = Buffer.from((b.entries[1] as { content: string }).content, 'base64');
      bytes[3] = (bytes[3] as number) ^ 1;
      (b.entries[1] as { content: string }).content = bytes.toString('base64');
    });
    assert.throws(() => parseBundle(text), isCode('bundle_hash_mismatch'));
  });

  it('fail/tamper/removed-entry', () => {
    assert.throws(() => parseBundle(edit(requestBundle, (b) => b.entries.pop())), (e: unknown) => isCode('bundle_hash_mismatch')(e) && /removed/.test((e as Error).message));
  });

  it('fail/tamper/added-entry', () => {
    const text = edit(requestBundle, (b) => b.entries.push({ name: 'DEV-EVIL.ppr', content: Buffer.from('evil').toString('base64') }));
    assert.throws(() => parseBundle(text), (e: unknown) => isCode('bundle_hash_mismatch')(e) && /added/.test((e as Error).message));
  });

  it('fail/tamper/reordered-or-renamed-entries', () => {
    assert.throws(() => parseBundle(edit(requestBundle, (b) => b.entries.reverse())), isCode('bundle_hash_mismatch'));
    assert.throws(() => parseBundle(edit(requestBundle, (b) => ((b.entries[0] as { name: string }).name = 'DEV-009.ppr'))), isCode('bundle_hash_mismatch'));
  });

  it('fail/tamper/manifest-changed-to-match-a-changed-entry', () => {
    // The forger swaps an entry AND rewrites its hash in the manifest: only the signature catches it.
    const evil = Buffer.from('{"request":"evil"}\n');
    let text = edit(requestBundle, (b) => ((b.entries[0] as { content: string }).content = evil.toString('base64')));
    text = editManifest(text, (m) => {
      const entries = m.entries as Array<Record<string, unknown>>;
      entries[0] = { name: 'DEV-001.ppr', sha256: createHashHex(evil), size: evil.length };
    });
    const parsed = parseBundle(text);
    assert.throws(() => verifyBundle(parsed, { roots: [root], at: NOW }), isCode('bundle_signature_invalid'));
  });

  it('fail/tamper/manifest-entry-removed-with-its-entry', () => {
    let text = edit(requestBundle, (b) => b.entries.pop());
    text = editManifest(text, (m) => (m.entries as unknown[]).pop());
    assert.throws(() => verify(text), isCode('bundle_signature_invalid'));
  });

  it('fail/signer/another-pki', async () => {
    // The attacker's own PKI issued a bootstrap credential with the right purpose.
    const text = await make({ signer: fx.other.bootstrap, issuing: fx.other.pki.intermediate.certificate });
    assert.throws(() => verify(text), isCode('bundle_untrusted'));
    verify(text, { root: fx.other.pki.root.certificate });
  });

  it('fail/signer/bootstrap-key-cannot-sign-a-profile-bundle', async () => {
    // Every device holds the package's bootstrap key: it must never vouch for profiles.
    const text = await make({ type: 'provisio.profile-bundle', signer: fx.bootstrap, entries: [{ name: 'DEV-001.pcp', content: Buffer.from('profile') }] });
    assert.throws(() => verify(text), isCode('bundle_untrusted'));
  });

  it('fail/signer/profile-signer-cannot-sign-a-request-bundle', async () => {
    const text = await make({ signer: fx.profileSigner });
    assert.throws(() => verify(text), isCode('bundle_untrusted'));
  });

  it('fail/signer/expired-at-check-time', () => {
    assert.throws(() => verify(requestBundle, { at: new Date(NOW.getTime() + 400 * DAY) }), isCode('bundle_untrusted'));
  });

  it('fail/type/request-bundle-where-profile-bundle-expected', () => {
    assert.throws(() => verify(requestBundle, { type: 'provisio.profile-bundle' }), isCode('bundle_wrong_type'));
  });

  it('fail/create/duplicate-names-ignoring-case-and-duplicate-contents', async () => {
    await assert.rejects(make({ entries: [FILES[0] as Entries[0], { name: 'dev-001.ppr', content: Buffer.from('x') }] }), isCode('bundle_malformed'));
    await assert.rejects(make({ entries: [FILES[0] as Entries[0], { name: 'DEV-002.ppr', content: (FILES[0] as Entries[0]).content }] }), isCode('bundle_malformed'));
  });

  it('fail/create/entry-names', async () => {
    for (const name of ['../DEV-001.ppr', '.hidden.ppr', 'DEV 001.ppr', 'DEV-001.pcp', '.ppr', 'a/b.ppr', `${'x'.repeat(126)}.ppr`]) {
      await assert.rejects(make({ entries: [{ name, content: Buffer.from('x') }] }), isCode('bundle_malformed'), name);
    }
    await assert.rejects(make({ entries: [] }), isCode('bundle_malformed'));
    await assert.rejects(make({ packageId: null }), isCode('bundle_malformed'));
  });

  it('ok/limits/10000-entries-and-not-one-more', async () => {
    const many = Array.from({ length: MAX_BUNDLE_ENTRIES + 1 }, (_, i) => ({ name: `DEV-${i}.ppr`, content: Buffer.from(`request ${i}`) }));
    await assert.rejects(make({ entries: many }), isCode('bundle_malformed'));
    const text = await make({ entries: many.slice(0, MAX_BUNDLE_ENTRIES) });
    const b = parseBundle(text);
    verifyBundle(b, { roots: [root], at: NOW });
    assert.equal(b.entries.length, MAX_BUNDLE_ENTRIES);
    assert.equal(b.entries[9_999]?.content.toString(), 'request 9999');
    // An extra entry beside a full manifest breaks the limit before anything is compared.
    const extra = edit(text, (x) => x.entries.push({ name: 'DEV-X.ppr', content: Buffer.from('x').toString('base64') }));
    assert.throws(() => parseBundle(extra), isCode('bundle_malformed'));
  });

  it('fail/parse/shape-and-limits', () => {
    assert.throws(() => parseBundle('not json'), isCode('bundle_malformed'));
    assert.throws(() => parseBundle(edit(requestBundle, (b) => ((b as unknown as Record<string, unknown>).extra = 1))), isCode('bundle_malformed'));
    assert.throws(() => parseBundle(edit(requestBundle, (b) => ((b.entries[0] as { content: string }).content = 'not base64!'))), isCode('bundle_malformed'));
    assert.throws(() => parseBundle(Buffer.alloc(MAX_BUNDLE_BYTES + 1, 0x20)), isCode('bundle_too_large'));
  });

  it('fail/parse/unknown-version', async () => {
    const manifest = { v: 2, type: 'provisio.request-bundle', packageId: 'pkg_1', createdAt: NOW.toISOString(), entries: [] };
    const jws = await signJws(Buffer.from(JSON.stringify(manifest)), [
      { signer: fx.bootstrap.signer, header: { typ: 'provisio-bundle+jws', x5c: [fx.bootstrap.certificate.der.toString('base64')] } },
    ]);
    assert.throws(() => parseBundle(JSON.stringify({ manifest: jws, entries: [] })), isCode('bundle_version_unsupported'));
  });
});

function createHashHex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
