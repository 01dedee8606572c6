/**
 * The visualizer's models (packages/web/src/visualizer/model): every method and lifecycle flow is valid — steps name
 * existing actors, zones are adjacent bands of lanes, standards come from the allowed list,
 * durations are positive, insecure channels list threats and mitigations — and the validator
 * catches each of those faults in a broken copy. The lifecycle flows are drawn from the code
 * (routes and audit actions) and stay out of the lists that compare provisioning methods.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findFlow, findMethod, FLOWS, LIFECYCLE_FLOWS, METHODS, type Method, type Step } from '../src/visualizer/model/index.js';
import { validateMethod } from '../src/visualizer/model/validate.js';
import { CREDENTIALS } from '../src/visualizer/model/credentials.js';
import { type Answers, answersFromQuery, recommend, USE_CASES } from '../src/visualizer/model/decide.js';

const REQUIRED = ['provisio-connected', 'provisio-disconnected', 'provisio-proxy', 'zero-touch', 'qr-app', 'x509-csr', 'token-psk', 'manufacturer-cert', 'jitp'];

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

  it('ok/provisio-flows-match-the-code', () => {
    // The routes the service really has (docs/service.md, docs/proxy.md), in the order they run.
    const routes = (id: string) => findMethod(id)?.steps.map((s) => s.title).filter((t) => /^(GET|POST) /.test(t));
    assert.deepEqual(routes('provisio-connected'), ['POST /api/v1/device/requests', 'GET …/profile?wait=25', 'POST /api/v1/device/confirm']);
    assert.deepEqual(routes('provisio-proxy'), ['POST /api/v1/gateways', 'POST /api/v1/gateway/requests', 'POST /api/v1/gateway/profiles', 'POST /api/v1/gateway/confirm']);
    const disconnected = findMethod('provisio-disconnected');
    assert.ok(disconnected && !disconnected.steps.some((s) => s.from === 'device' && s.to === 'service'), 'the disconnected device never talks to the service');
    assert.equal(disconnected?.steps.at(-1)?.id, 'complete');
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
