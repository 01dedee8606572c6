/**
 * The visualizer's models (packages/web/src/visualizer/model): every method and lifecycle flow is valid — steps name
 * existing actors, zones are adjacent bands of lanes, standards come from the allowed list,
 * durations are positive, insecure channels list threats and mitigations — and the validator
 * catches each of those faults in a broken copy. The lifecycle flows are drawn from the code
 * (routes and audit actions) and stay out of the lists that compare provisioning methods.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findFlow, findMethod, FLOWS, LIFECYCLE_FLOWS, METHODS, PROTOCOL_FLOWS, type Method, type Step } from '../src/visualizer/model/index.js';
import { flowOf } from '../src/visualizer/replay-flow.js';
import { validateMethod } from '../src/visualizer/model/validate.js';
import { CREDENTIALS } from '../src/visualizer/model/credentials.js';
import { type Answers, answersFromQuery, recommend, USE_CASES } from '../src/visualizer/model/decide.js';

const REQUIRED = ['provisio-connected', 'provisio-disconnected', 'provisio-proxy', 'provisio-pairing', 'zero-touch', 'qr-app', 'x509-csr', 'token-psk', 'manufacturer-cert', 'jitp'];

function withStep(m: Method, index: number, change: Partial<Step>): Method {
  return { ...m, steps: m.steps.map((s, i) => (i === index ? { ...s, ...change } : s)) };
}

describe('visualizer models', () => {
  it('ok/every-required-method-exists-once', () => {
    assert.deepEqual(METHODS.map((m) => m.id).sort(), [...REQUIRED].sort());
    for (const id of REQUIRED) assert.equal(findMethod(id)?.id, id);
  });

  for (const m of FLOWS) {
    it(`ok/${m.id}/valid`, () => {
      assert.deepEqual(validateMethod(m), []);
    });
  }

  // The routes the service really has (docs/service.md, docs/proxy.md), in the order they run.
  const routes = (id: string) => findMethod(id)?.steps.map((s) => s.title).filter((t) => /^(GET|POST) /.test(t));

  it('ok/provisio-flows-match-the-code', () => {
    assert.deepEqual(routes('provisio-connected'), ['POST /api/v1/device/requests', 'GET …/profile?wait=25', 'POST /api/v1/device/confirm']);
    assert.deepEqual(routes('provisio-proxy'), ['POST /api/v1/gateways', 'POST /api/v1/gateway/requests', 'POST /api/v1/gateway/profiles', 'POST /api/v1/gateway/confirm']);
    const disconnected = findMethod('provisio-disconnected');
    assert.ok(disconnected && !disconnected.steps.some((s) => s.from === 'device' && s.to === 'service'), 'the disconnected device never talks to the service');
    assert.equal(disconnected?.steps.at(-1)?.id, 'complete');
  });

  it('ok/pairing-token-and-qr-flows-are-provisio-s-own-and-match-the-code', () => {
    // The seed's hospital workflow: register with a code, hello, pair with the CSR, the signed
    // payload, confirmation over mutual TLS, the check-in at the central station.
    const pairing = ['POST /api/v1/pairings', 'POST /api/v1/device/pairing/hello', 'POST /api/v1/device/pairing/pair', 'POST /api/v1/device/confirm', 'POST /api/v1/check-in'];
    assert.deepEqual(routes('provisio-pairing'), pairing);
    // The QR flow (D46): the device pairs first and waits; then the Onboard page looks it up and
    // confirms it, which is the approval; then the device installs as in the pairing flow.
    assert.deepEqual(routes('qr-app'), [...pairing.slice(0, 3), 'POST /api/v1/onboard/lookup', 'POST /api/v1/onboard/confirm', ...pairing.slice(3)]);
    assert.deepEqual(routes('token-psk'), ['POST /api/v1/tokens', 'POST /api/v1/device/enroll', 'POST /api/v1/device/confirm']);
    for (const id of ['provisio-pairing', 'token-psk', 'qr-app']) {
      const m = findMethod(id) as Method;
      assert.equal(m.kind, 'provisio', `${id} is Provisio's own`);
      assert.ok(m.steps.every((s) => s.standards.every((r) => r.level !== 'illustrates')), `${id} claims what it does, not what a generic method would`);
      // Every step the device or the admin runs names the command that runs it.
      for (const s of m.steps.filter((x) => x.from === 'device' || x.from === 'admin')) {
        if (['human', 'optical', 'usb'].includes(s.channel.kind)) continue; // a person carries the secret
        assert.match(s.command ?? '', /^provisio (pairing create|token create|device (pair|enroll|check-in|audit)) /, `${id}/${s.id} names its command`);
      }
      // The device's key stays on it: every call it makes sends a CSR, never a key, and the last ones are mutual TLS.
      assert.ok(!m.steps.some((s) => s.carries.some((f) => /private ?key/i.test(f.name))), `${id} carries no private key`);
      assert.ok(m.steps.some((s) => s.title === 'POST /api/v1/device/confirm' && s.channel.kind === 'mtls'));
    }
    const seed = findMethod('provisio-pairing') as Method;
    assert.deepEqual(seed.steps.map((s) => s.id), ['register', 'hand-over', 'hello', 'keygen', 'pair', 'approve', 'payload', 'verify', 'install', 'confirm', 'check-in', 'audit-log']);
    assert.match(seed.steps.find((s) => s.id === 'audit-log')?.command ?? '', /^provisio device audit --dir \S+ --verify$/);
    const qr = findMethod('qr-app') as Method;
    assert.deepEqual(qr.steps.map((s) => s.id), ['register', 'label', 'setup', 'hello', 'keygen', 'pair', 'scan', 'approve', 'payload', 'verify', 'install', 'confirm', 'check-in', 'audit-log', 'watch']);
    assert.match(qr.steps[0]?.command ?? '', /^provisio pairing create .* --qr \S+\.png$/);
    // The setup payload as docs/formats.md defines it: a URI with the root as sha256:, holding the code.
    assert.match(qr.steps[0]?.carries.find((f) => f.name === 'setup')?.example ?? '', /^provisio-setup:\?v=1&url=https%3A%2F%2F[^&]+&root=sha256:[0-9a-f]+…&id=DEV-001&code=/);
    // The device's steps are the pairing flow's own, before and after the approval.
    const shared = (ids: string[]) => ids.map((id) => qr.steps.find((s) => s.id === id) === seed.steps.find((s) => s.id === id));
    assert.deepEqual(shared(['hello', 'keygen', 'pair', 'payload', 'verify', 'install', 'confirm', 'check-in', 'audit-log']), Array(9).fill(true));
    // The confirmation is a person's approval over the signed-in session, audited as confirmedInPerson.
    const confirm = qr.steps.find((s) => s.id === 'approve');
    assert.equal(confirm?.from, 'technician');
    assert.equal(confirm?.channel.kind, 'tls');
    assert.match(confirm?.carries.map((f) => f.example).join(' ') ?? '', /"action":"request\.approve".*"confirmedInPerson":true/);
    // The generic methods stay generic and name no command.
    for (const m of METHODS.filter((x) => x.kind === 'generic')) assert.ok(m.steps.every((s) => s.command === undefined), m.id);
  });

  it('ok/lifecycle-flows-match-the-code-and-are-not-methods', () => {
    assert.deepEqual(LIFECYCLE_FLOWS.map((f) => f.id), ['provisio-renewal', 'provisio-reprovision']);
    for (const f of LIFECYCLE_FLOWS) {
      assert.equal(findMethod(f.id), undefined, `${f.id} is not a provisioning method`);
      assert.equal(findFlow(f.id), f);
      assert.ok(!('assessment' in f), `${f.id} is not scored`);
    }
    for (const u of USE_CASES) assert.ok(!LIFECYCLE_FLOWS.some((f) => f.id === recommend(u.answers).method), `${u.name}: the guide recommends methods only`);
    const routes = (id: string) => findFlow(id)?.steps.map((s) => s.title).filter((t) => /^(GET|POST) /.test(t));
    // Renewal: no approver, the answer on the same call; both calls authenticated by a certificate.
    assert.deepEqual(routes('provisio-renewal'), ['POST /api/v1/device/renew', 'POST /api/v1/device/confirm']);
    const renewal = findFlow('provisio-renewal');
    assert.ok(renewal && !renewal.actors.some((a) => a.id === 'approver'), 'a renewal asks no approver');
    assert.ok(renewal?.steps.filter((s) => s.from === 'device' && s.to === 'service').every((s) => s.channel.kind === 'mtls'));
    assert.deepEqual(routes('provisio-reprovision'), ['POST /api/v1/check-in', 'POST /api/v1/device/reprovision', 'POST /api/v1/device/confirm']);
    const reprovision = findFlow('provisio-reprovision');
    assert.ok(reprovision?.steps.filter((s) => s.from === 'device' && s.to !== 'device').every((s) => s.channel.kind === 'mtls'), 'the current certificate authenticates every call');
    assert.ok(reprovision?.steps.some((s) => s.id === 'approve' && s.duration.humanWait));
  });

  it('fail/validator-catches-each-fault', () => {
    const m = findMethod('provisio-connected') as Method;
    const cases: [Method, RegExp][] = [
      [withStep(m, 2, { from: 'nobody' }), /unknown actor nobody/],
      [withStep(m, 2, { duration: { seconds: 0, humanWait: false } }), /duration must be positive/],
      [withStep(m, 2, { channel: { kind: 'ble', secure: false, label: 'plaintext BLE' }, threats: [] }), /insecure channel needs its threats/],
      [withStep(m, 2, { standards: [{ id: 'RFC 9999' as never, level: 'uses', claim: 'x' }] }), /not in the allowed list/],
      [withStep(m, 2, { to: 'device' }), /only a local channel/],
      [{ ...m, actors: [m.actors[0], m.actors[2], m.actors[1], m.actors[3]].filter((a) => a !== undefined) }, /zone operator: its lanes are not adjacent/],
      [{ ...m, kind: 'generic' }, /a generic method can only illustrate/],
      [{ ...m, kind: 'generic' }, /a generic method has no Provisio command/],
      [withStep(m, 2, { command: 'rm -rf /' }), /a command is a provisio command/],
    ];
    for (const [broken, problem] of cases) {
      const problems = validateMethod(broken);
      assert.ok(problems.some((p) => problem.test(p)), `${problem}: got ${JSON.stringify(problems)}`);
    }
  });
});

describe('decision guide', () => {
  // The documented rules (docs/visualizer.md), one case each.
  const cases: [string, Answers, string][] = [
    ['offline', { connectivity: 'offline', installer: 'technician', security: 'high', scale: 'few' }, 'provisio-disconnected'],
    ['gateway only', { connectivity: 'site', installer: 'technician', security: 'high', scale: 'thousands' }, 'provisio-proxy'],
    ['consumer', { connectivity: 'online', installer: 'consumer', security: 'baseline', scale: 'thousands' }, 'qr-app'],
    ['factory, high, many', { connectivity: 'online', installer: 'factory', security: 'high', scale: 'thousands' }, 'zero-touch'],
    ['factory, high, hundreds', { connectivity: 'online', installer: 'factory', security: 'high', scale: 'hundreds' }, 'manufacturer-cert'],
    ['factory, baseline', { connectivity: 'online', installer: 'factory', security: 'baseline', scale: 'thousands' }, 'jitp'],
    ['technician, baseline, few', { connectivity: 'online', installer: 'technician', security: 'baseline', scale: 'few' }, 'token-psk'],
    ['technician, high', { connectivity: 'online', installer: 'technician', security: 'high', scale: 'hundreds' }, 'provisio-connected'],
  ];
  for (const [name, answers, expected] of cases) {
    it(`ok/${name.replace(/[ ,]+/g, '-')}`, () => {
      const r = recommend(answers);
      assert.equal(r.method, expected);
      assert.ok(r.reasons.length > 0);
      for (const alt of [r.method, ...r.alternatives.map((a) => a.method)]) assert.ok(findMethod(alt), `${alt} is a method`);
    });
  }

  it('ok/every-use-case-recommends-a-method', () => {
    for (const u of USE_CASES) assert.ok(findMethod(recommend(u.answers).method), u.name);
  });

  it('fail/unknown-answers-fall-back-to-the-defaults', () => {
    const a = answersFromQuery(new URLSearchParams('connectivity=moon&installer=factory&scale=<script>'));
    assert.deepEqual(a, { connectivity: 'online', installer: 'factory', security: 'high', scale: 'hundreds' });
  });
});

describe('credential types', () => {
  it('ok/every-linked-step-exists', () => {
    for (const c of CREDENTIALS) {
      assert.ok(c.steps.length > 0, `${c.id} links to a step`);
      for (const ref of c.steps) assert.ok(findMethod(ref.method)?.steps.some((s) => s.id === ref.step), `${c.id}: ${ref.method}/${ref.step} exists`);
      assert.ok(c.attacks.every((a) => a.mitigation.trim() !== ''), `${c.id}: every attack has a mitigation`);
    }
  });
});

describe('standard protocol flows', () => {
  // The standard protocols (docs/protocols.md): each step names the route it really takes and the
  // unmodified client's command as docs/protocols.md spells it.
  it('ok/protocol-flows-name-their-routes-and-client-commands', () => {
    const titles = (id: string) => findFlow(id)?.steps.map((s) => s.title) ?? [];
    const commands = (id: string) => (findFlow(id)?.steps ?? []).map((s) => s.command ?? '');
    assert.deepEqual(PROTOCOL_FLOWS.map((f) => f.id), ['protocol-est', 'protocol-cmp', 'protocol-scep']);
    for (const f of PROTOCOL_FLOWS) {
      assert.deepEqual(validateMethod(f), [], f.id);
      assert.ok(!METHODS.some((m) => m.id === f.id) && !('assessment' in f), `${f.id} is not a scored method`);
      assert.equal(f.steps[0]?.command?.startsWith('provisio token create'), true, `${f.id} starts with the token`);
    }
    assert.deepEqual(titles('protocol-est').filter((t) => /^(GET|POST) /.test(t)), ['POST /api/v1/tokens', 'GET /.well-known/est/cacerts', 'POST /.well-known/est/simpleenroll', 'POST /.well-known/est/simplereenroll']);
    assert.ok(commands('protocol-est').some((c) => c.startsWith('pki --est ') && c.includes('--userpass "DEV-001:$TOKEN"')));
    assert.ok(commands('protocol-est').some((c) => c.startsWith('pki --est ') && c.includes('--cert device.pem --key device.key')));
    assert.deepEqual(titles('protocol-cmp').filter((t) => /cmp|ip|Conf/.test(t)), ['POST /.well-known/cmp (ir)', 'ip (certificate)', 'certConf → pkiConf']);
    assert.ok(commands('protocol-cmp').some((c) => c.startsWith('openssl cmp ') && c.includes('-cmd ir -ref "$REF" -secret "pass:$SECRET"')));
    assert.deepEqual(titles('protocol-scep').filter((t) => /scep|CertRep/.test(t)), ['GET /scep?operation=GetCACert', 'POST /scep?operation=PKIOperation (PKCSReq)', 'CertRep (SUCCESS)']);
    assert.ok(commands('protocol-scep').some((c) => c.startsWith('pki --scep ') && c.includes('--password "$TOKEN"')));
    assert.ok(commands('protocol-scep').some((c) => c.startsWith('pki --scepca ')));
    // Not a Provisio CLI command: the validator accepts the standard clients' and nothing else.
    const est = findFlow('protocol-est') as Method;
    assert.deepEqual(validateMethod(withStep(est, 2, { command: 'wget http://x' })), ['protocol-est: step 3 (cacerts): a command is a provisio command or a standard client\'s (pki, openssl, curl)']);
  });

  it('ok/replay-picks-the-flow-of-the-protocol-a-request-came-by', () => {
    const token = { kind: 'token' };
    assert.equal(flowOf({ id: 'r', transport: 'connected', enrollment: token, protocol: 'est' }, [])?.id, 'protocol-est');
    assert.equal(flowOf({ id: 'r', transport: 'connected', enrollment: token, protocol: 'cmp' }, [])?.id, 'protocol-cmp');
    assert.equal(flowOf({ id: 'r', transport: 'connected', enrollment: token, protocol: 'scep' }, [])?.id, 'protocol-scep');
    assert.equal(flowOf({ id: 'r', transport: 'connected', enrollment: token }, [])?.id, 'token-psk');
    assert.equal(flowOf({ id: 'r', transport: 'connected', kind: 'renewal', protocol: 'est' }, [])?.id, 'provisio-renewal');
  });
});
