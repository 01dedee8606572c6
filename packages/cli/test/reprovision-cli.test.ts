/**
 * The admin's commands against a real service with its station listener, run as the built
 * `provisio`: `device request-reprovision` (roles, codes, idempotency, cancel) with the real agent
 * (`provisio device run --station`) that learns the ask at its check-in, reprovisions, installs
 * and confirms the fresh certificate (checked with `openssl verify`), approved as the approver who
 * asked; and `system update --allow-mock|--no-mock`, the Systems page's mock switch.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadDevice } from '@provisio/device';
import { type FixedClock, fixedClock, openssl, tempDir } from '@provisio/testkit';
import { type TestService, startTestService } from '../../server/test/service-harness.js';
import { agent, kill, until } from './connected-helpers.js';
import { provisioAsync, transcript } from './run-cli.js';

describe('provisio device request-reprovision and system update', () => {
  let t: TestService;
  let clock: FixedClock;
  let env: Record<string, string>;
  const as: Record<'approver' | 'technician' | 'auditor', Record<string, string>> = { approver: {}, technician: {}, auditor: {} };
  const work = tempDir('provisio-reprov-cli-');
  let pkg: string;

  before(async () => {
    // Real time: the service's TLS certificate is made with this clock and checked by Node with the real one.
    clock = fixedClock(new Date());
    t = await startTestService({ clock, serve: { stationListen: { host: '127.0.0.1', port: 0 } } });
    env = { PROVISIO_URL: t.service.url, PROVISIO_CA_FILE: t.service.rootPath, PROVISIO_TOKEN: t.adminToken };
    assert.equal((await t.call('POST', '/api/v1/systems', { json: { name: 'Infusion' } })).status, 201);
    assert.equal((await t.call('POST', '/api/v1/systems/Infusion/components', { json: { name: 'pump' } })).status, 201);
    const r = await t.call('POST', '/api/v1/packages', { json: { system: 'Infusion' } });
    assert.equal(r.status, 201);
    pkg = join(work, 'infusion.ppkg');
    writeFileSync(pkg, r.body);
    for (const role of ['approver', 'technician', 'auditor'] as const) {
      const u = await t.call('POST', '/api/v1/users', { json: { username: `cli-${role}`, role } });
      assert.equal(u.status, 201, u.body.toString());
      as[role] = { ...env, PROVISIO_TOKEN: u.json().token as string };
    }
  });
  after(() => t?.close());

  const setPolicy = async (mode: 'manual' | 'automatic') => {
    const r = await t.call('POST', '/api/v1/systems/Infusion/components/pump/policy', { json: mode === 'manual' ? { mode } : { mode, rules: { transports: ['connected'] } } });
    assert.equal(r.status, 200, r.body.toString());
  };

  it('ok/agent-learns-the-ask-at-check-in-reprovisions-approved-by-the-approver', async () => {
    await setPolicy('automatic');
    const dir = join(work, 'INF-1');
    let r = await provisioAsync(['device', 'init', '--package', pkg, '--component', 'pump', '--id', 'INF-1', '--label', 'Pump 1', '--dir', dir, '--out', join(work, 'INF-1.ppr')]);
    assert.equal(r.status, 0, transcript(r));
    const run = agent(['--dir', dir, '--station', t.service.stationUrl as string, '--heartbeat', '10']);
    try {
      await until('the agent to check in', () => /Checked in at .* as INF-1/.test(run.output()), run.output);
      // From now on only a person approves this component's reprovisionings.
      await setPolicy('manual');
      const before = loadDevice(dir).install?.serial;

      // Refused: no reason, a technician, an auditor; nothing asked.
      r = await provisioAsync(['device', 'request-reprovision', 'INF-1'], env);
      assert.equal(r.status, 2, transcript(r));
      assert.match(r.stderr, /needs --reason R/);
      for (const role of ['technician', 'auditor'] as const) {
        r = await provisioAsync(['device', 'request-reprovision', 'INF-1', '--reason', 'x'], as[role]);
        assert.equal(r.status, 5, transcript(r));
        assert.match(r.stderr, /\[role_forbidden\]/);
      }
      assert.equal((await t.call('GET', '/api/v1/devices/INF-1')).json().reprovisionRequest, null);

      r = await provisioAsync(['device', 'request-reprovision', 'INF-1', '--reason', 'INC-12: new OCSP URL'], as.approver);
      assert.equal(r.status, 0, transcript(r));
      assert.match(r.stdout, /✔ Reprovisioning of INF-1 asked by cli-approver at \d{4}-\d\d-\d\dT[^:]+:\d\d:\d\d\.\d{3}Z: INC-12: new OCSP URL/);
      assert.match(r.stdout, /Next: the device reprovisions at its next check-in/);

      // The agent sees it at its next check-in, reprovisions and checks in with the new certificate.
      await until('the agent to reprovision', () => /✔ Reprovisioned: serial /.test(run.output()), run.output);
      assert.match(run.output(), /The service asks for a reprovisioning \(asked at /);
      const requestId = /Reprovisioned: serial \S+ → \S+, valid to \S+ \(request (req_[0-9a-f]+)\)/.exec(run.output())?.[1];
      assert.ok(requestId, run.output());
      const after = loadDevice(dir).install;
      assert.notEqual(after?.serial, before);
      assert.ok(after?.confirmedAt, 'the fresh profile is confirmed');
      await until('the agent to check in with the new certificate', () => new RegExp(`as INF-1 \\(certificate ${after?.serial}`).test(run.output()), run.output);
      assert.equal(run.child.exitCode, null, 'the agent keeps running');

      const files = tempDir('provisio-reprov-cli-files-');
      writeFileSync(join(files, 'root.crt'), t.rootPem);
      writeFileSync(join(files, 'intermediate.crt'), (await t.call('GET', '/ca/intermediate.crt', { token: null })).body);
      const verified = openssl(['verify', '-CAfile', join(files, 'root.crt'), '-untrusted', join(files, 'intermediate.crt'), '-purpose', 'sslclient', join(dir, 'certificate.pem')]);
      assert.equal(verified.status, 0, verified.output);
      const request = (await t.call('GET', `/api/v1/requests/${requestId}`)).json();
      assert.deepEqual([request.kind, request.state, request.decidedBy], ['reprovision', 'approved', 'cli-approver']);
      const approval = (await t.call('GET', `/api/v1/audit?action=request.approve&target=${requestId}`)).json().items as { actor: string; details: { reprovisionRequest?: { reason: string } } }[];
      assert.equal(approval[0]?.actor, 'user:cli-approver');
      assert.equal(approval[0]?.details.reprovisionRequest?.reason, 'INC-12: new OCSP URL');
      r = await provisioAsync(['device', 'get', 'INF-1'], env);
      assert.equal(r.status, 0, transcript(r));
      assert.doesNotMatch(r.stdout, /reprovision asked/, 'the confirmation cleared the ask');
    } finally {
      await kill(run.child, 'SIGTERM');
    }
  });

  it('ok-and-fail/ask-again-list-get-cancel-and-codes', async () => {
    await setPolicy('automatic');
    const dir = join(work, 'INF-2');
    let r = await provisioAsync(['device', 'provision', '--package', pkg, '--component', 'pump', '--id', 'INF-2', '--label', 'Pump 2', '--dir', dir], {});
    assert.equal(r.status, 0, transcript(r));
    // No agent runs: the ask stays outstanding.
    r = await provisioAsync(['device', 'request-reprovision', 'INF-2', '--reason', 'first', '--json'], env);
    assert.equal(r.status, 0, transcript(r));
    const first = JSON.parse(r.stdout) as { changed: boolean; reprovisionRequest: { requestedBy: string; requestedAt: string; reason: string } };
    assert.equal(first.changed, true);
    assert.deepEqual([first.reprovisionRequest.requestedBy, first.reprovisionRequest.reason], ['admin', 'first']);
    r = await provisioAsync(['device', 'request-reprovision', 'INF-2', '--reason', 'second'], as.approver);
    assert.equal(r.status, 0, transcript(r));
    assert.match(r.stdout, /A reprovisioning of INF-2 was already asked by admin at .*: first; nothing changed/);
    r = await provisioAsync(['device', 'list', '--q', 'INF-2'], env);
    assert.match(r.stdout, /DEVICE\s+STATE\s+SYSTEM\/COMPONENT\s+LAST SEEN\s+NEEDS APPROVAL\s+REPROVISION/);
    assert.match(r.stdout, new RegExp(`INF-2\\s+provisioned\\s+Infusion/pump\\s+never\\s+-\\s+asked ${first.reprovisionRequest.requestedAt.replace(/\./g, '\\.')}`));
    r = await provisioAsync(['device', 'get', 'INF-2'], env);
    assert.match(r.stdout, /reprovision asked by admin at \S+: first/);

    r = await provisioAsync(['device', 'request-reprovision', 'INF-2', '--cancel', '--reason', 'x'], env);
    assert.equal(r.status, 2, transcript(r));
    r = await provisioAsync(['device', 'request-reprovision', 'INF-2', '--cancel'], as.auditor);
    assert.equal(r.status, 5, transcript(r));
    r = await provisioAsync(['device', 'request-reprovision', 'INF-2', '--cancel'], as.approver);
    assert.equal(r.status, 0, transcript(r));
    assert.match(r.stdout, /✔ Reprovisioning of INF-2 cancelled/);
    r = await provisioAsync(['device', 'request-reprovision', 'INF-2', '--cancel'], env);
    assert.equal(r.status, 0, transcript(r));
    assert.match(r.stdout, /No reprovisioning was asked for INF-2: nothing changed/);
    const cancelled = (await t.call('GET', '/api/v1/audit?action=device.reprovision_cancelled&target=INF-2')).json().items as { actor: string }[];
    assert.deepEqual(cancelled.map((e) => e.actor), ['user:cli-approver']);

    r = await provisioAsync(['device', 'request-reprovision', 'NO-SUCH', '--reason', 'x'], env);
    assert.equal(r.status, 6, transcript(r));
    assert.match(r.stderr, /\[device_not_found\]/);
    r = await provisioAsync(['device', 'revoke', 'INF-2', '--reason', 'cessationOfOperation', '--yes'], env);
    assert.equal(r.status, 0, transcript(r));
    r = await provisioAsync(['device', 'request-reprovision', 'INF-2', '--reason', 'x'], env);
    assert.equal(r.status, 7, transcript(r));
    assert.match(r.stderr, /\[device_not_provisioned\]/);
  });

  it('ok-and-fail/system-update-mock-switch', async () => {
    let r = await provisioAsync(['system', 'update', 'Infusion', '--no-mock'], env);
    assert.equal(r.status, 0, transcript(r));
    assert.equal(r.stdout, '✔ System "Infusion" refuses mock device files\n');
    r = await provisioAsync(['system', 'show', 'Infusion'], env);
    assert.match(r.stdout, /mock files\s+refused/);
    r = await provisioAsync(['system', 'update', 'Infusion', '--no-mock'], env);
    assert.equal(r.status, 0, 'the same value again changes nothing');
    r = await provisioAsync(['system', 'update', 'Infusion', '--allow-mock', '--json'], env);
    assert.equal(r.status, 0, transcript(r));
    assert.equal((JSON.parse(r.stdout) as { allowMock: boolean }).allowMock, true);
    const entries = (await t.call('GET', '/api/v1/audit?action=system.update&target=Infusion')).json().items as { details: { allowMock: { from: boolean; to: boolean } } }[];
    assert.deepEqual(entries.map((e) => e.details.allowMock), [{ from: false, to: true }, { from: true, to: false }]);

    for (const flags of [[], ['--allow-mock', '--no-mock']]) {
      r = await provisioAsync(['system', 'update', 'Infusion', ...flags], env);
      assert.equal(r.status, 2, transcript(r));
      assert.match(r.stderr, /--allow-mock.*--no-mock/);
    }
    r = await provisioAsync(['system', 'update', 'Infusion', '--separation-of-duties', 'maybe'], env);
    assert.equal(r.status, 2, transcript(r));
    assert.match(r.stderr, /--separation-of-duties takes on or off; got "maybe" \[usage_invalid\]/);
    r = await provisioAsync(['system', 'update', 'Infusion', '--no-mock'], as.approver);
    assert.equal(r.status, 5, transcript(r));
    assert.match(r.stderr, /\[role_forbidden\]/);
    r = await provisioAsync(['system', 'update', 'Nowhere', '--no-mock'], env);
    assert.equal(r.status, 6, transcript(r));
    assert.match(r.stderr, /\[system_not_found\]/);
    assert.equal((await t.call('GET', '/api/v1/systems/Infusion')).json().allowMock, true, 'refused calls changed nothing');
    assert.equal((await t.call('GET', '/api/v1/systems/Infusion')).json().separationOfDuties, true, 'refused calls changed nothing');

    // Separation of duties: off, then on again; show says which.
    r = await provisioAsync(['system', 'update', 'Infusion', '--separation-of-duties', 'off'], env);
    assert.equal(r.status, 0, transcript(r));
    assert.equal(r.stdout, '✔ System "Infusion" keeps separation of duties off\n');
    r = await provisioAsync(['system', 'show', 'Infusion'], env);
    assert.match(r.stdout, /separation of duties\s+off/);
    r = await provisioAsync(['system', 'update', 'Infusion', '--separation-of-duties', 'on', '--json'], env);
    assert.equal((JSON.parse(r.stdout) as { separationOfDuties: boolean }).separationOfDuties, true);
    const duties = (await t.call('GET', '/api/v1/audit?action=system.update&target=Infusion')).json().items as { details: { separationOfDuties?: unknown } }[];
    assert.deepEqual(duties.filter((e) => e.details.separationOfDuties).map((e) => e.details.separationOfDuties), [{ from: false, to: true }, { from: true, to: false }]);
  });
});
