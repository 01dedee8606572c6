import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseCertifiedProfile } from '@provisio/protocol';
import { DAY, fixedClock, seededRandom, tempDir } from '@provisio/testkit';
import { COMPONENT, createFakeService } from '../test/fake-service.js';
import { withCode } from '../test/helpers.js';
import { initDevice } from './init-device.js';
import { installProfile } from './install-profile.js';
import { showDevice } from './show-device.js';

const NOW = '2026-06-01T12:00:00Z';

describe('showDevice', () => {
  it('ok/show/before-and-after-install', async () => {
    const service = await createFakeService({ now: new Date(NOW), random: seededRandom('show-service') });
    const dir = join(tempDir('provisio-device-'), 'keystore');
    const clock = fixedClock(NOW);
    const init = await initDevice(
      { clock, random: seededRandom('show') },
      {
        packageText: service.packageText,
        component: COMPONENT,
        deviceId: 'DEV-001',
        deviceLabel: 'Bed 12',
        hardwareSerial: 'SN-0042',
        dir,
      },
    );

    const before = showDevice({ clock }, { dir });
    assert.equal(before.state, 'requested');
    assert.equal(before.deviceId, 'DEV-001');
    assert.equal(before.deviceLabel, 'Bed 12');
    assert.equal(before.system, 'ZMonitor');
    assert.equal(before.component, COMPONENT);
    assert.equal(before.hardwareSerial, 'SN-0042');
    assert.equal(before.firmwareVersion, null);
    assert.equal(before.certificate, null);
    assert.equal(before.request.expired, false);
    assert.equal(before.dirMode, 0o700);
    assert.deepEqual(before.problems, []);
    const present = (r: typeof before) => r.files.filter((f) => f.present).map((f) => f.name).sort();
    assert.deepEqual(present(before), ['device.key', 'identity.json', 'request.ppr', 'root.crt', 'security_audit_head.json', 'security_audit_log.jsonl']);
    assert.ok(before.files.every((f) => !f.present || f.mode === 0o600));
    // Nothing in the report is the private key.
    const keyPem = readFileSync(join(dir, 'device.key'), 'utf8');
    assert.ok(!JSON.stringify(before).includes(keyPem.split('\n')[1] as string));

    const profileText = await service.issueProfile(init.requestText);
    await installProfile({ clock }, { dir, profileText });
    clock.advance(DAY);
    const after = showDevice({ clock }, { dir });
    assert.equal(after.state, 'installed');
    const cp = parseCertifiedProfile(profileText);
    assert.equal(after.certificate?.serial, cp.certificate.serial);
    assert.equal(after.certificate?.requestId, cp.payload.requestId);
    assert.equal(after.certificate?.validity, 'valid');
    assert.equal(after.certificate?.notAfter, cp.certificate.notAfter.toISOString().replace('.000Z', 'Z'));
    assert.deepEqual(present(after), [
      'certificate.pem',
      'device.db',
      'device.key',
      'identity.json',
      'install.json',
      'profile.pcp',
      'request.ppr',
      'root.crt',
      'security_audit_head.json',
      'security_audit_log.jsonl',
    ]);
    assert.deepEqual(after.problems, []);

    clock.advance(400 * DAY);
    const expired = showDevice({ clock }, { dir });
    assert.equal(expired.certificate?.validity, 'expired');
    assert.equal(expired.request.expired, true);
  });

  it('ok/show/reports-problems-instead-of-failing', async () => {
    const service = await createFakeService({ now: new Date(NOW), random: seededRandom('show-service-2') });
    const dir = join(tempDir('provisio-device-'), 'keystore');
    const clock = fixedClock(NOW);
    const init = await initDevice(
      { clock, random: seededRandom('show-2') },
      { packageText: service.packageText, component: COMPONENT, deviceId: 'DEV-002', deviceLabel: 'Bed 14', dir },
    );
    await installProfile({ clock }, { dir, profileText: await service.issueProfile(init.requestText) });
    chmodSync(join(dir, 'device.key'), 0o644);
    writeFileSync(join(dir, 'profile.pcp'), '{}', { mode: 0o600 });
    const report = showDevice({ clock }, { dir });
    assert.equal(report.problems.length, 2, report.problems.join('\n'));
    assert.match(report.problems[0] as string, /device\.key has mode 0644/);
    assert.match(report.problems[1] as string, /profile\.pcp does not match install\.json/);
    // Using the key is refused while it is readable by others.
    await assert.rejects(installProfile({ clock }, { dir, profileText: '{}' }), withCode('keystore_insecure'));
  });

  it('fail/show/not-initialized', () => {
    assert.throws(() => showDevice({ clock: fixedClock(NOW) }, { dir: tempDir('provisio-device-') }), withCode('keystore_not_found'));
  });
});
