/**
 * The device side of disconnected provisioning through the built binary: `device init` on the
 * device with the package from a USB stick, the request carried to a stand-in for the service
 * (test/fake-service.ts in packages/device), the certified profile carried back and installed,
 * `device show` before and after. Every refusal is checked for its code, its exit code, its hint
 * and that it wrote nothing (security.md: refusal is clean).
 */
import assert from 'node:assert/strict';
import { createHash, createPrivateKey } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { encodePem } from '@provisio/pki';
import { DAY, openssl, seededRandom, tempDir } from '@provisio/testkit';
import { COMPONENT, createFakeService, type FakeService, tamperPayload } from '../../device/test/fake-service.js';
import { provisio, transcript } from './run-cli.js';

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

/** The keystore but its security audit log, which records refusals (checked on its own). */
function snapshot(dir: string): Record<string, string> {
  if (!existsSync(dir)) return {};
  return Object.fromEntries(
    readdirSync(dir)
      .filter((n) => !n.startsWith('security_audit_'))
      .sort()
      .map((n) => [n, `${mode(join(dir, n)).toString(8)} ${createHash('sha256').update(readFileSync(join(dir, n))).digest('hex')}`]),
  );
}

interface Usb {
  readonly usb: string;
  readonly packagePath: string;
}

describe('provisio device', () => {
  let service: FakeService;
  let attacker: FakeService;

  before(async () => {
    // The binary runs on the real clock; so does the stand-in service.
    service = await createFakeService({ now: new Date(), random: seededRandom('cli-device-service') });
    attacker = await createFakeService({ now: new Date(), random: seededRandom('cli-device-attacker') });
  });

  function usbStick(pkgText = service.packageText): Usb {
    const usb = tempDir('provisio-usb-');
    const packagePath = join(usb, 'zmonitor.ppkg');
    writeFileSync(packagePath, pkgText, { mode: 0o600 });
    return { usb, packagePath };
  }

  function init(packagePath: string, dir: string, extra: string[] = []) {
    return provisio([
      'device',
      'init',
      '--package',
      packagePath,
      '--component',
      COMPONENT,
      '--id',
      'DEV-001',
      '--label',
      'Bed 12',
      '--dir',
      dir,
      ...extra,
    ]);
  }

  /** A device initialized with its request copied to the stick. */
  function initialized(): Usb & { dir: string; requestPath: string } {
    const stick = usbStick();
    const dir = join(tempDir('provisio-device-'), 'keystore');
    const requestPath = join(stick.usb, 'DEV-001.ppr');
    const r = init(stick.packagePath, dir, ['--out', requestPath]);
    assert.equal(r.status, 0, transcript(r));
    return { ...stick, dir, requestPath };
  }

  it('ok/device/init-install-show-through-a-usb-stick', async () => {
    const { usb, packagePath } = usbStick();
    const dir = join(tempDir('provisio-device-'), 'keystore');
    const requestPath = join(usb, 'DEV-001.ppr');
    const r = init(packagePath, dir, ['--out', requestPath, '--serial', 'SN-0042', '--firmware', '2.4.1']);
    assert.equal(r.status, 0, transcript(r));
    const keyPath = join(dir, 'device.key');
    assert.match(r.stdout, new RegExp(`^✔ Device key: ${keyPath} \\(mode 0600, never leaves this device\\)$`, 'm'));
    assert.match(r.stdout, new RegExp(`^✔ Provisioning request: ${requestPath}$`, 'm'));
    assert.match(r.stdout, /expires\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(expires in 7 d\)/);
    assert.match(r.stdout, /key SHA-256\s+[0-9a-f]{64}/);
    assert.match(r.stdout, /^ {2}provisio request upload .*DEV-001\.ppr$/m);
    assert.match(r.stdout, new RegExp(`Delete the provisioning package from this device now: ${packagePath}`));
    assert.match(r.stderr, /^provisio: warning: delete .*zmonitor\.ppkg from this device/m);

    assert.equal(mode(dir), 0o700);
    assert.equal(mode(keyPath), 0o600);
    for (const name of readdirSync(dir)) assert.equal(mode(join(dir, name)), 0o600, name);
    assert.equal(readFileSync(requestPath, 'utf8'), readFileSync(join(dir, 'request.ppr'), 'utf8'));

    // The private key is nowhere but device.key: not in the output, not in the request.
    const keyPem = readFileSync(keyPath, 'utf8');
    const d = createPrivateKey(keyPem).export({ format: 'jwk' }).d as string;
    const keyBody = keyPem.split('\n').slice(1, -2).join('');
    for (const text of [r.stdout, r.stderr, readFileSync(requestPath, 'utf8')]) {
      assert.ok(!text.includes(d) && !text.includes(keyBody.slice(0, 40)));
    }

    const shown = provisio(['device', 'show', '--dir', dir, '--json']);
    assert.equal(shown.status, 0, transcript(shown));
    const beforeInstall = JSON.parse(shown.stdout) as Record<string, unknown>;
    assert.equal(beforeInstall.state, 'requested');
    assert.equal(beforeInstall.deviceId, 'DEV-001');
    assert.equal(beforeInstall.hardwareSerial, 'SN-0042');
    assert.equal(beforeInstall.certificate, null);
    assert.equal(beforeInstall.dirMode, '0700');
    assert.ok(!shown.stdout.includes(d));

    // On the connected machine: the service answers the request with a certified profile.
    const profilePath = join(usb, 'DEV-001.pcp');
    writeFileSync(profilePath, await service.issueProfile(readFileSync(requestPath, 'utf8')));

    const inst = provisio(['device', 'install', '--dir', dir, profilePath]);
    assert.equal(inst.status, 0, transcript(inst));
    assert.match(inst.stdout, new RegExp(`^✔ Certificate: ${join(dir, 'certificate.pem')} \\(device \\+ issuing CA, mode 0600\\)$`, 'm'));
    assert.match(inst.stdout, new RegExp(`^✔ Certified profile: ${join(dir, 'profile.pcp')} \\(mode 0600\\)$`, 'm'));
    assert.match(inst.stdout, /verified\s+against .*root\.crt \(the package's root of trust\)/);
    assert.match(inst.stdout, /^ {2}provisio device complete DEV-001$/m);
    for (const name of ['certificate.pem', 'profile.pcp', 'install.json']) assert.equal(mode(join(dir, name)), 0o600, name);

    const work = tempDir('provisio-openssl-');
    writeFileSync(join(work, 'root.pem'), encodePem('CERTIFICATE', service.pki.root.certificate.der));
    writeFileSync(join(work, 'intermediate.pem'), encodePem('CERTIFICATE', service.pki.intermediate.certificate.der));
    const verified = openssl([
      'verify',
      '-x509_strict',
      '-CAfile',
      join(work, 'root.pem'),
      '-untrusted',
      join(work, 'intermediate.pem'),
      join(dir, 'certificate.pem'),
    ]);
    assert.equal(verified.status, 0, verified.output);
    assert.match(verified.stdout, /: OK$/m);

    const after = provisio(['device', 'show', '--dir', dir]);
    assert.equal(after.status, 0, transcript(after));
    assert.match(after.stdout, /^Device DEV-001 \(Bed 12\)$/m);
    assert.match(after.stdout, /^ {2}state\s+installed$/m);
    assert.match(after.stdout, /^ {2}device\.key\s+0600$/m);
    assert.match(after.stdout, /^ {2}certificate\.pem\s+0600$/m);
    assert.equal(after.stderr, '');
    const afterJson = JSON.parse(provisio(['device', 'show', '--dir', dir, '--json']).stdout) as {
      state: string;
      certificate: { validity: string; serial: string };
    };
    assert.equal(afterJson.state, 'installed');
    assert.equal(afterJson.certificate.validity, 'valid');

    // The same profile again: nothing changes.
    const again = provisio(['device', 'install', '--dir', dir, profilePath, '--json']);
    assert.equal(again.status, 0, transcript(again));
    const againJson = JSON.parse(again.stdout) as { changed: boolean; serial: string };
    assert.equal(againJson.changed, false);
    assert.equal(againJson.serial, afterJson.certificate.serial);
  });

  it('ok/device/init-json', () => {
    const { packagePath } = usbStick();
    const dir = join(tempDir('provisio-device-'), 'keystore');
    const r = init(packagePath, dir, ['--json', '--key-type', 'p384']);
    assert.equal(r.status, 0, transcript(r));
    const out = JSON.parse(r.stdout) as {
      state: string;
      key: { path: string; mode: string; type: string; sha256: string };
      request: { path: string; copy: null; expiresAt: string };
    };
    assert.equal(out.state, 'requested');
    assert.deepEqual({ ...out.key, sha256: '' }, { path: join(dir, 'device.key'), mode: '0600', type: 'p384', sha256: '' });
    assert.match(out.key.sha256, /^[0-9a-f]{64}$/);
    assert.equal(out.request.path, join(dir, 'request.ppr'));
    assert.equal(out.request.copy, null);
    assert.match(r.stderr, /^provisio: warning: delete /m);
  });

  it('fail/device/init-refuses-an-existing-identity', () => {
    const { packagePath, dir } = initialized();
    const before = snapshot(dir);
    const r = init(packagePath, dir);
    assert.equal(r.status, 7, transcript(r));
    assert.match(r.stderr, /^provisio: error: .* already holds a device identity.* \[keystore_exists\]$/m);
    assert.match(r.stderr, /^provisio: hint: .*--reset/m);
    assert.equal(r.stdout, '');
    assert.deepEqual(snapshot(dir), before);
  });

  it('fail/device/init-unknown-component-lists-the-known-ones', () => {
    const { packagePath } = usbStick();
    const dir = join(tempDir('provisio-device-'), 'keystore');
    const r = provisio(['device', 'init', '--package', packagePath, '--component', 'pump', '--id', 'DEV-001', '--label', 'x', '--dir', dir]);
    assert.equal(r.status, 3, transcript(r));
    assert.match(r.stderr, /\[package_component_unknown\]$/m);
    assert.match(r.stderr, /^provisio: hint: use one of: "bedside monitor", "gateway"$/m);
    assert.equal(existsSync(dir), false);
  });

  it('fail/device/init-key-type-the-template-forbids', () => {
    const { packagePath } = usbStick();
    const dir = join(tempDir('provisio-device-'), 'keystore');
    const r = init(packagePath, dir, ['--key-type', 'rsa3072']);
    assert.equal(r.status, 3, transcript(r));
    assert.match(r.stderr, /\[package_key_type_not_allowed\]$/m);
    assert.equal(existsSync(dir), false);
  });

  it('fail/device/init-expired-package', async () => {
    // A package made 40 days ago that lived 30.
    const old = await createFakeService({ now: new Date(Date.now() - 40 * DAY), random: seededRandom('cli-old') });
    const { packagePath } = usbStick(old.packageText);
    const dir = join(tempDir('provisio-device-'), 'keystore');
    const r = init(packagePath, dir);
    assert.equal(r.status, 3, transcript(r));
    assert.match(r.stderr, /\[package_expired\]$/m);
    assert.match(r.stderr, /^provisio: hint: ask the manufacturer for a current provisioning package$/m);
    assert.equal(existsSync(dir), false);
  });

  it('fail/device/init-out-exists-before-any-work', () => {
    const { usb, packagePath } = usbStick();
    const out = join(usb, 'taken.ppr');
    writeFileSync(out, 'keep me');
    const dir = join(tempDir('provisio-device-'), 'keystore');
    const r = init(packagePath, dir, ['--out', out]);
    assert.equal(r.status, 7, transcript(r));
    assert.match(r.stderr, /\[file_exists\]$/m);
    assert.equal(readFileSync(out, 'utf8'), 'keep me');
    assert.equal(existsSync(dir), false);
  });

  it('fail/device/init-bad-device-id', () => {
    const { packagePath } = usbStick();
    const dir = join(tempDir('provisio-device-'), 'keystore');
    const r = provisio(['device', 'init', '--package', packagePath, '--component', COMPONENT, '--id', 'DEV 001', '--label', 'x', '--dir', dir]);
    assert.equal(r.status, 3, transcript(r));
    assert.match(r.stderr, /\[identity_invalid\]$/m);
    assert.match(r.stderr, /^provisio: hint: check --id/m);
    assert.equal(existsSync(dir), false);
  });

  it('fail/device/init-missing-flag-is-usage', () => {
    const r = provisio(['device', 'init', '--package', 'x.ppkg']);
    assert.equal(r.status, 2, transcript(r));
    assert.match(r.stderr, /needs --component \[usage_invalid\]$/m);
  });

  it('fail/device/install-tampered-profile-writes-nothing', async () => {
    const { usb, dir, requestPath } = initialized();
    const profilePath = join(usb, 'DEV-001.pcp');
    const genuine = await service.issueProfile(readFileSync(requestPath, 'utf8'));
    writeFileSync(profilePath, tamperPayload(genuine, (p) => {
      p.deviceLabel = 'Bed 13';
    }));
    const before = snapshot(dir);
    const r = provisio(['device', 'install', '--dir', dir, profilePath]);
    assert.equal(r.status, 4, transcript(r));
    assert.match(r.stderr, /\[cp_signature_invalid\]$/m);
    assert.match(r.stderr, /^provisio: hint: the profile was altered or damaged/m);
    assert.equal(r.stdout, '');
    assert.deepEqual(snapshot(dir), before);
  });

  it('fail/device/install-profile-under-another-root', async () => {
    // Signed by an attacker's service for this device's id and key, carrying the attacker's root.
    const { usb, dir, requestPath } = initialized();
    const profilePath = join(usb, 'forged.pcp');
    writeFileSync(profilePath, await attacker.issueProfile(readFileSync(requestPath, 'utf8'), { skipRequestCheck: true }));
    const before = snapshot(dir);
    const r = provisio(['device', 'install', '--dir', dir, profilePath, '--json']);
    assert.equal(r.status, 4, transcript(r));
    assert.match(r.stderr, /\[cp_untrusted\]$/m);
    assert.equal(r.stdout, '');
    assert.deepEqual(snapshot(dir), before);
  });

  it('fail/device/install-profile-for-another-device', async () => {
    const { usb, dir, requestPath } = initialized();
    const profilePath = join(usb, 'DEV-999.pcp');
    writeFileSync(profilePath, await service.issueProfile(readFileSync(requestPath, 'utf8'), { deviceId: 'DEV-999' }));
    const before = snapshot(dir);
    const r = provisio(['device', 'install', '--dir', dir, profilePath]);
    assert.equal(r.status, 4, transcript(r));
    assert.match(r.stderr, /\[cp_wrong_device\]$/m);
    assert.deepEqual(snapshot(dir), before);
  });

  it('fail/device/install-without-init-and-without-file', () => {
    const dir = tempDir('provisio-device-');
    const missing = provisio(['device', 'install', '--dir', dir]);
    assert.equal(missing.status, 2, transcript(missing));
    assert.match(missing.stderr, /needs the certified profile file \[usage_invalid\]$/m);
    const profilePath = join(dir, 'x.pcp');
    writeFileSync(profilePath, '{}');
    const r = provisio(['device', 'install', '--dir', join(dir, 'nowhere'), profilePath]);
    assert.equal(r.status, 6, transcript(r));
    assert.match(r.stderr, /\[keystore_not_found\]$/m);
    assert.match(r.stderr, /^provisio: hint: run "provisio device init/m);
  });

  it('ok/device/help', () => {
    const group = provisio(['device']);
    assert.equal(group.status, 0, transcript(group));
    assert.match(group.stdout, /^ {2}init\s/m);
    assert.match(group.stdout, /^ {2}install\s/m);
    assert.match(group.stdout, /^ {2}show\s/m);
    const help = provisio(['device', 'init', '--help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /^Examples:/m);
    const unknown = provisio(['device', 'instal']);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /did you mean "provisio device install"/);
  });
});
