/**
 * Disconnected delivery at scale, as a field technician runs it with the built `provisio` and a
 * `provisio serve` process (SQLite): devices make requests offline, the technician bundles them
 * with the package, uploads the bundle, an approver approves, the technician downloads the
 * profiles as one bundle, verifies it (and sees a tampered copy refused), extracts it, and each
 * device installs its profile; the technician completes each device.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tempDir } from '@provisio/testkit';
import { ok, provisio, type ServeProcess, startServe, transcript } from './run-cli.js';

const DEVICES = ['DEV-101', 'DEV-102', 'DEV-103'];

describe('bundles via the CLI (SQLite)', () => {
  let server: ServeProcess;
  const dir = tempDir('provisio-bundle-flow-');
  const usb = join(dir, 'usb');

  before(async () => {
    server = await startServe(['--data', join(dir, 'data')]);
  });
  after(async () => server?.stop());

  it('ok/init-bundle-upload-approve-download-verify-extract-install-complete', () => {
    const admin = server.env;
    ok(['system', 'create', 'ZMonitor'], admin);
    ok(['component', 'create', '--system', 'ZMonitor', 'bedside monitor'], admin);
    const pkg = join(dir, 'zmonitor.ppkg');
    ok(['package', 'create', '--system', 'ZMonitor', '--out', pkg], admin);
    const tokenOf = (name: string, role: string) => {
      ok(['user', 'create', name, '--role', role, '--token-out', join(dir, `${name}.token`)], admin);
      return { ...admin, PROVISIO_TOKEN: readFileSync(join(dir, `${name}.token`), 'utf8').trim() };
    };
    const technician = tokenOf('tess', 'technician');
    const approver = tokenOf('amir', 'approver');

    // On each device, offline: a key and a request, copied to the USB stick.
    mkdirSync(join(usb, 'requests'), { recursive: true });
    for (const id of DEVICES) {
      ok(['device', 'init', '--package', pkg, '--component', 'bedside monitor', '--id', id, '--label', `Bed ${id}`, '--dir', join(dir, `ks-${id}`), '--out', join(usb, 'requests', `${id}.ppr`)], {});
    }

    // The technician's laptop, offline: one signed bundle from the directory.
    const requests = join(usb, 'requests.pbdl');
    const made = ok(['request', 'bundle', '--package', pkg, '--out', requests, join(usb, 'requests')], {});
    assert.match(made.stdout, /Request bundle: .*\(3 requests, package pkg_/);
    const checked = JSON.parse(ok(['bundle', 'verify', requests, '--package', pkg, '--json'], {}).stdout);
    assert.equal(checked.type, 'provisio.request-bundle');
    assert.deepEqual(checked.entries.map((e: { name: string }) => e.name), DEVICES.map((id) => `${id}.ppr`));

    // Upload: one verdict per entry.
    const up = ok(['request', 'upload', requests], technician);
    assert.match(up.stdout, /3 entries \(package pkg_\w+\): 3 accepted, 0 already uploaded, 0 refused/);
    for (const id of DEVICES) assert.match(up.stdout, new RegExp(`✔ ${id}\\.ppr: accepted as req_[0-9a-f]+ \\(device ${id}, pending\\)`));
    const again = ok(['request', 'upload', requests], technician);
    assert.match(again.stdout, /0 accepted, 3 already uploaded, 0 refused/);

    // The approver approves two; the third is not ready when the technician first asks.
    const pending = JSON.parse(ok(['request', 'list', '--state', 'pending', '--json'], approver).stdout) as { items: Array<{ id: string; deviceId: string }> };
    const idOf = (deviceId: string) => pending.items.find((r) => r.deviceId === deviceId)?.id as string;
    ok(['request', 'approve', idOf('DEV-101')], approver);
    ok(['request', 'approve', idOf('DEV-102')], approver);
    const partial = provisio(['profile', 'download', '--bundle', join(usb, 'partial.pbdl'), '--request-bundle', requests], { env: technician });
    assert.equal(partial.status, 7, transcript(partial));
    assert.match(partial.stdout, /Profile bundle: .*2 profiles/);
    assert.match(partial.stdout, /✘ DEV-103: .* is pending; .* \[profile_not_found\]/);

    ok(['request', 'approve', idOf('DEV-103')], approver);
    const profiles = join(usb, 'profiles.pbdl');
    const down = ok(['profile', 'download', '--bundle', profiles, '--request-bundle', requests], technician);
    assert.match(down.stdout, /3 profiles, signed by the service/);
    assert.equal(statSync(profiles).mode & 0o777, 0o600);

    const verified = ok(['bundle', 'verify', profiles, '--root', admin.PROVISIO_CA_FILE as string], {});
    assert.match(verified.stdout, /type\s+profile bundle/);
    assert.match(verified.stdout, /signed by\s+CN=Provisio profile signer/);
    assert.match(verified.stdout, /bundle OK: 3 entries/);
    ok(['bundle', 'verify', profiles, '--package', pkg], {});

    // A copy with one changed byte in one profile is refused, and so is a request bundle as profiles.
    const tampered = JSON.parse(readFileSync(profiles, 'utf8'));
    const bytes = Buffer.from(tampered.entries[1].content, 'base64');
    bytes[40] = (bytes[40] as number) ^ 1;
    tampered.entries[1].content = bytes.toString('base64');
    writeFileSync(join(usb, 'tampered.pbdl'), JSON.stringify(tampered));
    const bad = provisio(['bundle', 'verify', join(usb, 'tampered.pbdl'), '--root', admin.PROVISIO_CA_FILE as string], {});
    assert.equal(bad.status, 4, transcript(bad));
    assert.match(bad.stderr, /\[bundle_hash_mismatch\]/);
    const refusedExtract = provisio(['bundle', 'extract', join(usb, 'tampered.pbdl'), '--dir', join(usb, 'nothing'), '--package', pkg], {});
    assert.equal(refusedExtract.status, 4, transcript(refusedExtract));

    // Extract and install on each device, then complete.
    const extracted = ok(['bundle', 'extract', profiles, '--dir', join(usb, 'profiles'), '--package', pkg], {});
    assert.match(extracted.stdout, /3 files from the verified profile bundle/);
    for (const id of DEVICES) {
      const file = join(usb, 'profiles', `${id}.pcp`);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      ok(['device', 'install', '--dir', join(dir, `ks-${id}`), file], {});
      ok(['device', 'complete', id], technician);
      assert.equal(JSON.parse(ok(['device', 'get', id, '--json'], admin).stdout).state, 'provisioned');
    }
    // A device given another device's profile refuses it.
    const wrong = provisio(['device', 'install', '--dir', join(dir, 'ks-DEV-101'), join(usb, 'profiles', 'DEV-102.pcp')], {});
    assert.equal(wrong.status, 4, transcript(wrong));
    assert.match(wrong.stderr, /\[cp_wrong_device\]/);
    assert.match(ok(['audit', 'verify'], admin).stdout, /audit log OK/);
  });

  it('fail/upload/a-refused-entry-does-not-block-the-others', () => {
    const technician = { ...server.env, PROVISIO_TOKEN: readFileSync(join(dir, 'tess.token'), 'utf8').trim() };
    const pkg = join(dir, 'zmonitor.ppkg');
    const second = join(dir, 'second');
    mkdirSync(second);
    // DEV-101 is provisioned already: a new request for it is refused; DEV-104 is new.
    ok(['device', 'init', '--package', pkg, '--component', 'bedside monitor', '--id', 'DEV-101', '--label', 'Again', '--dir', join(dir, 'ks-again'), '--out', join(second, 'DEV-101-again.ppr')], {});
    ok(['device', 'init', '--package', pkg, '--component', 'bedside monitor', '--id', 'DEV-104', '--label', 'Bed 104', '--dir', join(dir, 'ks-DEV-104'), '--out', join(second, 'DEV-104.ppr')], {});
    const bundle = join(dir, 'second.pbdl');
    ok(['request', 'bundle', '--package', pkg, '--out', bundle, second], {});
    const r = provisio(['request', 'upload', bundle], { env: technician });
    assert.equal(r.status, 7, transcript(r));
    assert.match(r.stdout, /1 accepted, 0 already uploaded, 1 refused/);
    assert.match(r.stdout, /✘ DEV-101-again\.ppr: device "DEV-101" already exists .*\[device_exists\]/);
    assert.match(r.stdout, /✔ DEV-104\.ppr: accepted as req_[0-9a-f]+ \(device DEV-104, pending\)/);
    // The request bundle was made with this package, not with another one.
    const other = join(dir, 'third.ppkg');
    ok(['package', 'create', '--system', 'ZMonitor', '--out', other], server.env);
    const v = provisio(['bundle', 'verify', bundle, '--package', other], {});
    assert.equal(v.status, 4, transcript(v));
    assert.match(v.stderr, /\[bundle_untrusted\]/);
  });

  it('fail/request-bundle/request-of-another-package-is-refused', () => {
    const admin = server.env;
    const other = join(dir, 'other.ppkg');
    ok(['package', 'create', '--system', 'ZMonitor', '--out', other], admin);
    const mixed = join(dir, 'mixed');
    mkdirSync(mixed);
    ok(['device', 'init', '--package', other, '--component', 'bedside monitor', '--id', 'DEV-OTHER', '--label', 'Other', '--dir', join(dir, 'ks-other'), '--out', join(mixed, 'DEV-OTHER.ppr')], {});
    const r = provisio(['request', 'bundle', '--package', join(dir, 'zmonitor.ppkg'), '--out', join(dir, 'mixed.pbdl'), mixed], {});
    assert.equal(r.status, 3, transcript(r));
    assert.match(r.stderr, /\[bundle_package_mismatch\]/);
    assert.throws(() => statSync(join(dir, 'mixed.pbdl')));
  });
});
