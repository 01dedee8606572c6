/**
 * The visualizer's real example bytes (src/visualizer/bytes/example-fixture.json, made by
 * scripts/make-visualizer-fixture.ts): the request verifies with its two signatures against the
 * fixture's root, the profile verifies for its device, openssl verifies the certificate against
 * the root and the issuing CA from the profile, no private key is in the file, every step that
 * shows the bytes exists in its model; and the byte view's decoder names the fields at the
 * offsets openssl asn1parse finds them, with the serial openssl prints.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { encodePem, parseCertificate, parseCsr } from '@provisio/pki';
import { verifyDeviceAudit } from '@provisio/device';
import { parseCertifiedProfile, parsePairingPayload, parseProvisioningRequest, verifyCertifiedProfile, verifyPairingPayload, verifyProvisioningRequest } from '@provisio/protocol';
import { openssl, tempDir } from '@provisio/testkit';
import { decodeDer, flatten, nodeAt } from '../src/visualizer/bytes/der-tree.js';
import { EXAMPLE_STEPS } from '../src/visualizer/bytes/example-steps.js';
import { findMethod } from '../src/visualizer/model/index.js';

interface Exchange<Req, Ans> { method: string; path: string; request: Req; status: number; answer: Ans }
const fixture = JSON.parse(readFileSync(new URL('../src/visualizer/bytes/example-fixture.json', import.meta.url), 'utf8')) as {
  generatedAt: string; root: string; request: string; csr: string; certificate: string; profile: string;
  pairing: {
    deviceId: string;
    hello: Exchange<{ deviceId: string; code: string }, Record<string, unknown>>;
    pair: Exchange<
      { deviceId: string; code: string; csr: string; signature: string },
      { request: { id: string; state: string }; payload: Record<string, string>; profile: string }
    >;
    certificate: string; events: string[]; deviceAudit: Record<string, unknown>[];
  };
  token: {
    deviceId: string;
    enroll: Exchange<{ token: string; deviceId: string; deviceLabel: string; csr: string }, { request: { id: string; state: string }; profile: string }>;
    certificate: string; events: string[];
  };
};

describe('visualizer example bytes', () => {
  const root = parseCertificate(Buffer.from(fixture.root, 'base64'));
  const request = parseProvisioningRequest(fixture.request);
  const profile = parseCertifiedProfile(fixture.profile);

  it('ok/fixture/request-and-profile-verify-against-its-root', () => {
    verifyProvisioningRequest(request, { at: request.createdAt, roots: [root] });
    assert.equal(request.csr.der.toString('base64'), fixture.csr);
    verifyCertifiedProfile(profile, { root, deviceId: request.payload.deviceId, devicePublicKey: request.devicePublicKey, at: new Date(profile.payload.issuedAt) });
    assert.equal(profile.payload.certificateChain[0], fixture.certificate);
  });

  it('ok/fixture/openssl-verifies-the-certificate-and-the-csr', () => {
    const dir = tempDir('provisio-fixture-');
    writeFileSync(join(dir, 'root.pem'), encodePem('CERTIFICATE', Buffer.from(fixture.root, 'base64')));
    writeFileSync(join(dir, 'issuing.pem'), encodePem('CERTIFICATE', Buffer.from(profile.payload.certificateChain[1] as string, 'base64')));
    writeFileSync(join(dir, 'device.pem'), encodePem('CERTIFICATE', Buffer.from(fixture.certificate, 'base64')));
    writeFileSync(join(dir, 'csr.pem'), encodePem('CERTIFICATE REQUEST', Buffer.from(fixture.csr, 'base64')));
    // At the time it was issued: the fixture outlives the certificate's validity.
    const at = String(Math.floor(Date.parse(profile.payload.issuedAt) / 1000) + 60);
    const verify = openssl(['verify', '-x509_strict', '-attime', at, '-purpose', 'sslclient', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'issuing.pem'), join(dir, 'device.pem')]);
    assert.match(verify.output, /device\.pem: OK/, verify.output);
    assert.match(openssl(['req', '-in', join(dir, 'csr.pem'), '-noout', '-verify']).output, /verify OK/);
  });

  it('ok/fixture/pairing-messages-are-the-real-service-s-and-verify', () => {
    const { pairing } = fixture;
    assert.equal(pairing.hello.path, '/api/v1/device/pairing/hello');
    assert.equal(pairing.hello.status, 200);
    assert.deepEqual(pairing.hello.answer, { deviceId: pairing.deviceId, deviceLabel: 'Bed 12', system: 'ZMonitor', component: 'bedside monitor', keyTypes: ['p256'], centralKeyGeneration: false });
    assert.equal(pairing.pair.path, '/api/v1/device/pairing/pair');
    assert.equal(pairing.pair.status, 201);
    // The seed's payload: its signature by the profile signer verifies against the fixture's root at its time.
    const parsed = parsePairingPayload(JSON.stringify(pairing.pair.answer.payload));
    verifyPairingPayload(parsed, { root, deviceId: pairing.deviceId, at: new Date(pairing.pair.answer.payload.issuedAt as string) });
    assert.deepEqual(Object.keys(pairing.pair.answer.payload), ['deviceId', 'pairingCode', 'serverUrl', 'clientCertificate', 'caCertificate', 'issuedAt', 'expiresAt', 'signature']);
    assert.equal(parsed.certificate.der.toString('base64'), pairing.certificate);
    // The certificate certifies the CSR's key; the profile answered with it verifies for that key.
    const csr = parseCsr(Buffer.from(pairing.pair.request.csr, 'base64'));
    assert.ok(parsed.certificate.publicKey.spki.equals(csr.publicKey.spki));
    const profile = parseCertifiedProfile(pairing.pair.answer.profile);
    verifyCertifiedProfile(profile, { root, deviceId: pairing.deviceId, devicePublicKey: csr.publicKey, at: new Date(profile.payload.issuedAt) });
    assert.equal(profile.payload.certificateChain[0], pairing.certificate);
    assert.deepEqual(pairing.events, ['pairing.create', 'pairing.use', 'request.submit', 'request.approve', 'device.confirm']);
    // The device's own audit log, as written: the chain verifies and names the certificate installed.
    const dir = tempDir('provisio-fixture-audit-');
    writeFileSync(join(dir, 'security_audit_log.jsonl'), `${pairing.deviceAudit.map((e) => JSON.stringify(e)).join('\n')}\n`, { mode: 0o600 });
    const last = pairing.deviceAudit.at(-1) as { seq: number; hash: string };
    writeFileSync(join(dir, 'security_audit_head.json'), JSON.stringify({ seq: last.seq, hash: last.hash }), { mode: 0o600 });
    assert.equal(verifyDeviceAudit(dir).ok, true, JSON.stringify(verifyDeviceAudit(dir)));
    assert.deepEqual(pairing.deviceAudit.map((e) => e.event).filter((e) => e !== 'database.created'), ['profile.verified', 'install.completed', 'install.confirmed']);
  });

  it('ok/fixture/token-messages-are-the-real-service-s-and-verify', () => {
    const { token } = fixture;
    assert.equal(token.enroll.path, '/api/v1/device/enroll');
    assert.equal(token.enroll.status, 201);
    const csr = parseCsr(Buffer.from(token.enroll.request.csr, 'base64'));
    const profile = parseCertifiedProfile(token.enroll.answer.profile);
    verifyCertifiedProfile(profile, { root, deviceId: token.deviceId, devicePublicKey: csr.publicKey, at: new Date(profile.payload.issuedAt) });
    assert.equal(profile.payload.certificateChain[0], token.certificate);
    assert.equal(profile.payload.requestId, token.enroll.answer.request.id);
    assert.deepEqual(token.events, ['token.create', 'token.use', 'request.submit', 'request.approve', 'device.confirm']);
  });

  it('ok/fixture/openssl-verifies-the-paired-and-enrolled-certificates-and-csrs', () => {
    const dir = tempDir('provisio-fixture-secret-');
    writeFileSync(join(dir, 'root.pem'), encodePem('CERTIFICATE', Buffer.from(fixture.root, 'base64')));
    writeFileSync(join(dir, 'issuing.pem'), fixture.pairing.pair.answer.payload.caCertificate as string);
    for (const [name, cert, csr, at] of [
      ['paired', fixture.pairing.certificate, fixture.pairing.pair.request.csr, fixture.pairing.pair.answer.payload.issuedAt as string],
      ['enrolled', fixture.token.certificate, fixture.token.enroll.request.csr, parseCertifiedProfile(fixture.token.enroll.answer.profile).payload.issuedAt],
    ] as const) {
      writeFileSync(join(dir, `${name}.pem`), encodePem('CERTIFICATE', Buffer.from(cert, 'base64')));
      writeFileSync(join(dir, `${name}.csr`), encodePem('CERTIFICATE REQUEST', Buffer.from(csr, 'base64')));
      const verify = openssl(['verify', '-x509_strict', '-attime', String(Math.floor(Date.parse(at) / 1000) + 60), '-purpose', 'sslclient', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'issuing.pem'), join(dir, `${name}.pem`)]);
      assert.match(verify.output, new RegExp(`${name}\\.pem: OK`), verify.output);
      assert.match(openssl(['req', '-in', join(dir, `${name}.csr`), '-noout', '-verify']).output, /verify OK/);
    }
    // The seed's CSR profile in the paired device's certificate.
    const text = openssl(['x509', '-in', join(dir, 'paired.pem'), '-noout', '-text', '-nameopt', 'RFC2253']).stdout;
    assert.match(text, new RegExp(`Subject: .*CN=${fixture.pairing.deviceId}`));
    assert.match(text, /TLS Web Client Authentication/);
    assert.match(text, /description=Bed 12/);
  });

  it('ok/fixture/secrets-are-masked', () => {
    // The pairing code and the token were secrets of a service that no longer exists; still, the
    // fixture holds them masked, as the payload itself echoes the code.
    const { hello, pair } = fixture.pairing;
    for (const sent of [hello.request.code, pair.request.code, pair.answer.payload.pairingCode]) assert.match(sent as string, /^[A-HJ-NP-Z2-9]{4}-\*{4}$/);
    assert.match(fixture.token.enroll.request.token, /^pvt_[0-9a-f]{16}_\*{4}$/);
    const text = readFileSync(new URL('../src/visualizer/bytes/example-fixture.json', import.meta.url), 'utf8');
    assert.doesNotMatch(text, /pvt_[0-9a-f]{16}_[0-9a-f]{64}/);
  });

  it('ok/fixture/no-private-key', () => {
    const text = readFileSync(new URL('../src/visualizer/bytes/example-fixture.json', import.meta.url), 'utf8');
    assert.doesNotMatch(text, /PRIVATE KEY|privateKey|"d":/);
  });

  it('ok/fixture/every-step-that-shows-bytes-exists', () => {
    for (const [methodId, steps] of Object.entries(EXAMPLE_STEPS)) {
      const method = findMethod(methodId);
      assert.ok(method && method.kind === 'provisio', methodId);
      for (const stepId of Object.keys(steps)) assert.ok(method.steps.some((s) => s.id === stepId), `${methodId} has no step ${stepId}`);
    }
  });

  it('ok/byte-view/fields-at-the-offsets-openssl-finds-with-its-serial', () => {
    const der = Buffer.from(fixture.certificate, 'base64');
    const tree = decodeDer(der, 'certificate');
    const parsed = openssl(['asn1parse', '-inform', 'DER'], { input: der }).stdout;
    // Every node openssl lists, at the same offset with the same header and length.
    const lines = [...parsed.matchAll(/^\s*(\d+):d=(\d+)\s+hl=(\d+)\s+l=\s*(\d+)/gm)].map((m) => m.slice(1).map(Number));
    const nodes = flatten(tree).filter((n) => !n.node.id.split('.').some((_, i, parts) => i > 0 && isInsideExtnValue(tree, parts.slice(0, i).join('.'))));
    assert.deepEqual(nodes.map((n) => [n.node.start, n.depth, n.node.contentStart - n.node.start, n.node.end - n.node.contentStart]), lines);
    // Every node, encapsulated ones too, lies in its parent's value, and the children tile it.
    for (const { node } of flatten(tree)) {
      if (node.children.length === 0) continue;
      assert.equal(node.children[0]?.start, node.contentStart, node.id);
      assert.equal(node.children.at(-1)?.end, node.end, node.id);
      node.children.forEach((c, i) => i > 0 && assert.equal(c.start, node.children[i - 1]?.end, c.id));
    }
    const san = flatten(tree).find((n) => n.node.value?.startsWith('subjectAltName'))?.node;
    assert.ok(san);
    const serial = flatten(tree).find((n) => n.node.name === 'serialNumber')?.node;
    assert.ok(serial);
    const printed = execFileSync('openssl', ['x509', '-inform', 'DER', '-noout', '-serial'], { input: der, encoding: 'utf8' }).trim();
    assert.equal(`serial=${serial.value}`, printed);
    assert.equal(nodeAt(tree, serial.end - 1).id, serial.id, 'the last byte of the serial selects the serial');
    assert.deepEqual(flatten(decodeDer(Buffer.from(fixture.csr, 'base64'), 'csr')).filter((n) => n.node.name).slice(0, 4).map((n) => n.node.name), ['CertificationRequest', 'certificationRequestInfo', 'version', 'subject']);
  });

  it('fail/byte-view/trailing-bytes-and-garbage', () => {
    assert.throws(() => decodeDer(Buffer.concat([Buffer.from(fixture.certificate, 'base64'), Buffer.from([0])])), /not one DER value/);
    assert.throws(() => decodeDer(Buffer.from([0x30, 0x05, 0x02])), /not one DER value/);
  });
});

/** The byte view decodes extnValue's encapsulated DER, which asn1parse shows as one OCTET STRING. */
function isInsideExtnValue(tree: ReturnType<typeof decodeDer>, id: string): boolean {
  let node = tree;
  for (const part of id.split('.').slice(1)) node = node.children[Number(part)] ?? node;
  return node.name === 'extnValue';
}
