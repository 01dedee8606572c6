/**
 * The offline root ceremony end to end, through the built binary, checked by openssl (a tool
 * nobody here wrote). Every refusal is checked for its code, its exit code, and that it wrote
 * nothing (security.md: refusal is clean).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { decodePem, encodePem } from '@provisio/pki';
import { openssl, tempDir } from '@provisio/testkit';
import { provisio, ROOT_ENV, ROOT_PASSPHRASE, transcript } from './run-cli.js';

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

interface Ceremony {
  readonly dir: string;
  readonly root: string;
  readonly ca: string;
}

/** init-root + new-intermediate (P-256) in a fresh directory. */
function rootAndRequest(): Ceremony {
  const dir = tempDir('provisio-cli-');
  const root = join(dir, 'root');
  const ca = join(dir, 'ca');
  const init = provisio(['ca', 'init-root', '--out', root, '--name', 'Hospital Root CA'], { env: ROOT_ENV });
  assert.equal(init.status, 0, transcript(init));
  const req = provisio(['ca', 'new-intermediate', '--out', ca]);
  assert.equal(req.status, 0, transcript(req));
  return { dir, root, ca };
}

describe('provisio ca', () => {
  let c: Ceremony;
  let initRoot: ReturnType<typeof provisio>;

  before(() => {
    const dir = tempDir('provisio-cli-');
    c = { dir, root: join(dir, 'root'), ca: join(dir, 'ca') };
    initRoot = provisio(['ca', 'init-root', '--out', c.root, '--name', 'Hospital Root CA'], { env: ROOT_ENV });
  });

  it('ok/ceremony/init-root-new-intermediate-sign-intermediate-openssl-verify', () => {
    assert.equal(initRoot.status, 0, transcript(initRoot));
    const rootCrt = join(c.root, 'root.crt');
    const rootKey = join(c.root, 'root.key');
    assert.match(initRoot.stdout, new RegExp(`^✔ Root certificate: ${rootCrt}$`, 'm'));
    assert.match(initRoot.stdout, new RegExp(`^✔ Root key: ${rootKey} \\(encrypted, mode 0600\\)$`, 'm'));
    // The fingerprint shown is SHA-256 over the DER, what `openssl x509 -outform DER | sha256sum` prints.
    const der = decodePem(readFileSync(rootCrt, 'utf8'), 'CERTIFICATE').der;
    assert.ok(initRoot.stdout.includes(createHash('sha256').update(der).digest('hex')), initRoot.stdout);
    assert.match(initRoot.stdout, /provisio ca new-intermediate --out/);
    assert.match(initRoot.stderr, /^provisio: warning: .*root\.key must stay offline/m);
    assert.ok(!initRoot.stdout.includes(ROOT_PASSPHRASE) && !initRoot.stderr.includes(ROOT_PASSPHRASE));
    assert.equal(mode(rootKey), 0o600);
    assert.equal(mode(rootCrt), 0o600);
    assert.equal(mode(c.root), 0o700);

    const req = provisio(['ca', 'new-intermediate', '--out', c.ca]);
    assert.equal(req.status, 0, transcript(req));
    assert.match(req.stdout, /^✔ Intermediate key: .*intermediate\.key \(NOT encrypted, mode 0600\)$/m);
    assert.match(req.stderr, /^provisio: note: .*not encrypted.*PROVISIO_CA_PASSPHRASE/m);
    assert.equal(mode(join(c.ca, 'intermediate.key')), 0o600);
    const keySha = /key SHA-256\s+([0-9a-f]{64})/.exec(req.stdout)?.[1];
    assert.ok(keySha, req.stdout);

    const out = join(c.ca, 'intermediate.crt');
    const chain = join(c.ca, 'chain.pem');
    const sign = provisio(
      [
        'ca',
        'sign-intermediate',
        '--root',
        c.root,
        '--csr',
        join(c.ca, 'intermediate.csr'),
        '--out',
        out,
        '--chain',
        chain,
      ],
      { env: ROOT_ENV },
    );
    assert.equal(sign.status, 0, transcript(sign));
    assert.match(sign.stdout, new RegExp(`^✔ Intermediate certificate: ${out}$`, 'm'));
    // The person at the ceremony compares this key fingerprint with what new-intermediate printed.
    assert.match(sign.stderr, new RegExp(`key SHA-256\\s+${keySha}`));
    assert.match(sign.stderr, /signature VERIFIED \(proof of possession\)/);
    assert.ok(sign.stdout.includes(keySha));

    const verify = openssl(['verify', '-x509_strict', '-CAfile', rootCrt, out]);
    assert.equal(verify.status, 0, verify.output);
    assert.match(verify.stdout, /: OK$/m);
    const chainVerify = openssl(['verify', '-x509_strict', '-CAfile', rootCrt, chain]);
    assert.match(chainVerify.stdout, /: OK$/m, chainVerify.output);

    const text = openssl(['x509', '-in', out, '-noout', '-text']).stdout;
    assert.match(text, /X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    assert.match(text, /Certificate Sign, CRL Sign/);
    assert.match(text, /Subject: CN ?= ?Provisio Issuing CA/);
    assert.match(text, /Issuer: CN ?= ?Hospital Root CA/);

    // The root keeps a record of what it signed, so it can be found and revoked later.
    const issued = readdirSync(join(c.root, 'issued'));
    assert.equal(issued.length, 1);
    assert.equal(readFileSync(join(c.root, 'issued', issued[0] as string), 'utf8'), readFileSync(out, 'utf8'));
  });

  it('ok/root-key/encrypted-openssl-opens-it-only-with-the-passphrase', () => {
    const rootKey = join(c.root, 'root.key');
    assert.match(readFileSync(rootKey, 'utf8'), /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    const ok = openssl(['pkey', '-in', rootKey, '-passin', 'env:PROVISIO_ROOT_PASSPHRASE', '-noout'], {
      env: { ...process.env, ...ROOT_ENV },
    });
    assert.equal(ok.status, 0, ok.output);
    const noPass = openssl(['pkey', '-in', rootKey, '-passin', 'pass:', '-noout']);
    assert.notEqual(noPass.status, 0, noPass.output);
    const wrong = openssl(['pkey', '-in', rootKey, '-passin', 'pass:wrong passphrase!', '-noout']);
    assert.notEqual(wrong.status, 0, wrong.output);
  });

  it('fail/init-root/no-passphrase-no-terminal', () => {
    const dir = join(tempDir('provisio-cli-'), 'root');
    const r = provisio(['ca', 'init-root', '--out', dir]);
    assert.equal(r.status, 4, transcript(r));
    assert.match(r.stderr, /^provisio: error: .*PROVISIO_ROOT_PASSPHRASE is not set.* \[passphrase_required\]$/m);
    assert.match(r.stderr, /^provisio: hint: set PROVISIO_ROOT_PASSPHRASE/m);
    assert.equal(r.stdout, '');
    assert.equal(existsSync(dir), false, 'nothing written, not even the directory');
  });

  it('fail/init-root/passphrase-too-short', () => {
    const dir = join(tempDir('provisio-cli-'), 'root');
    const r = provisio(['ca', 'init-root', '--out', dir], { env: { PROVISIO_ROOT_PASSPHRASE: 'hunter2' } });
    assert.equal(r.status, 3, transcript(r));
    assert.match(r.stderr, /\[passphrase_too_short\]$/m);
    assert.ok(!r.stderr.includes('hunter2'));
    assert.equal(existsSync(dir), false);
  });

  it('fail/init-root/refuses-to-overwrite', () => {
    const before = readFileSync(join(c.root, 'root.key'));
    const r = provisio(['ca', 'init-root', '--out', c.root], { env: ROOT_ENV });
    assert.equal(r.status, 7, transcript(r));
    assert.match(
      r.stderr,
      /^provisio: error: .*root\.crt already exists; provisio never overwrites files \[file_exists\]$/m,
    );
    assert.deepEqual(readFileSync(join(c.root, 'root.key')), before);
    assert.deepEqual(
      readdirSync(c.root).filter((f) => f.endsWith('.tmp')),
      [],
    );
  });

  it('fail/sign-intermediate/wrong-root-passphrase', () => {
    const { root, ca } = rootAndRequest();
    const out = join(ca, 'intermediate.crt');
    const r = provisio(
      ['ca', 'sign-intermediate', '--root', root, '--csr', join(ca, 'intermediate.csr'), '--out', out],
      {
        env: { PROVISIO_ROOT_PASSPHRASE: 'not the passphrase at all' },
      },
    );
    assert.equal(r.status, 4, transcript(r));
    assert.match(r.stderr, /\[key_passphrase_wrong\]$/m);
    assert.ok(!r.stderr.includes('not the passphrase at all'));
    assert.equal(r.stdout, '');
    assert.equal(existsSync(out), false);
    assert.equal(existsSync(join(root, 'issued')), false);
  });

  it('fail/sign-intermediate/tampered-csr', () => {
    // An attacker on the USB stick's path swaps the subject of a genuine request: the request's
    // signature no longer covers what it says, so the root refuses before unlocking its key.
    const { root, ca } = rootAndRequest();
    const csrPath = join(ca, 'intermediate.csr');
    const der = decodePem(readFileSync(csrPath, 'utf8'), 'CERTIFICATE REQUEST').der;
    const at = der.indexOf(Buffer.from('Provisio Issuing CA'));
    assert.ok(at > 0);
    der.write('Evil', at, 'latin1');
    const tampered = join(ca, 'tampered.csr');
    writeFileSync(tampered, encodePem('CERTIFICATE REQUEST', der));
    const out = join(ca, 'intermediate.crt');
    const r = provisio(['ca', 'sign-intermediate', '--root', root, '--csr', tampered, '--out', out], { env: ROOT_ENV });
    assert.equal(r.status, 3, transcript(r));
    assert.match(r.stderr, /^provisio: error: the CSR signature does not verify.* \[csr_signature_invalid\]$/m);
    assert.equal(existsSync(out), false);
    assert.equal(existsSync(join(root, 'issued')), false);
  });

  it('fail/sign-intermediate/refuses-to-overwrite-out', () => {
    const { root, ca } = rootAndRequest();
    const out = join(ca, 'taken.crt');
    writeFileSync(out, 'keep me');
    const r = provisio(
      ['ca', 'sign-intermediate', '--root', root, '--csr', join(ca, 'intermediate.csr'), '--out', out],
      {
        env: ROOT_ENV,
      },
    );
    assert.equal(r.status, 7, transcript(r));
    assert.match(r.stderr, /\[file_exists\]$/m);
    assert.equal(readFileSync(out, 'utf8'), 'keep me');
  });

  it('ok/sign-intermediate/openssl-made-csr-rsa3072-root-json', () => {
    const dir = tempDir('provisio-cli-');
    const root = join(dir, 'root');
    const init = provisio(['ca', 'init-root', '--out', root, '--key-type', 'rsa3072', '--years', '10', '--json'], {
      env: ROOT_ENV,
    });
    assert.equal(init.status, 0, transcript(init));
    const summary = JSON.parse(init.stdout);
    assert.equal(summary.publicKey.algorithm, 'RSA 3072');
    assert.equal(summary.key.mode, '0600');
    assert.equal(summary.key.encrypted, true);
    assert.equal(summary.subject, 'CN=Provisio Root CA');
    assert.equal(summary.ca, true);
    assert.equal(summary.pathLength, null);
    assert.match(summary.serial, /^[0-9a-f]{1,32}$/);
    assert.match(summary.sha256, /^[0-9a-f]{64}$/);

    const csr = join(dir, 'openssl.csr');
    const made = openssl([
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      join(dir, 'openssl.key'),
      '-subj',
      '/CN=x',
      '-out',
      csr,
    ]);
    assert.equal(made.status, 0, made.output);
    const out = join(dir, 'x.crt');
    const sign = provisio(
      ['ca', 'sign-intermediate', '--root', root, '--csr', csr, '--out', out, '--days', '30', '--json'],
      {
        env: ROOT_ENV,
      },
    );
    assert.equal(sign.status, 0, transcript(sign));
    const issued = JSON.parse(sign.stdout);
    assert.equal(issued.subject, 'CN=x');
    assert.equal(issued.issuer, 'CN=Provisio Root CA');
    assert.equal(issued.pathLength, 0);
    assert.equal(issued.clippedToRoot, false);
    const verify = openssl(['verify', '-x509_strict', '-CAfile', join(root, 'root.crt'), out]);
    assert.match(verify.stdout, /: OK$/m, verify.output);
    assert.match(
      openssl(['x509', '-in', out, '-noout', '-text']).stdout,
      /Signature Algorithm: sha256WithRSAEncryption/,
    );
  });

  it('ok/new-intermediate/encrypted-with-ca-passphrase', () => {
    const ca = join(tempDir('provisio-cli-'), 'ca');
    const env = { PROVISIO_CA_PASSPHRASE: 'online ca passphrase 2026' };
    const r = provisio(['ca', 'new-intermediate', '--out', ca, '--name', 'Hospital Issuing CA 2026', '--json'], {
      env,
    });
    assert.equal(r.status, 0, transcript(r));
    const result = JSON.parse(r.stdout);
    assert.equal(result.key.encrypted, true);
    assert.equal(result.subject, 'CN=Hospital Issuing CA 2026');
    assert.equal(r.stderr, '', 'no plain-key note when the key is encrypted');
    const key = join(ca, 'intermediate.key');
    assert.equal(mode(key), 0o600);
    const ok = openssl(['pkey', '-in', key, '-passin', 'env:PROVISIO_CA_PASSPHRASE', '-noout'], {
      env: { ...process.env, ...env },
    });
    assert.equal(ok.status, 0, ok.output);
    const csrCheck = openssl(['req', '-in', join(ca, 'intermediate.csr'), '-verify', '-noout']);
    assert.match(csrCheck.output, /verify OK/);
  });
});

describe('provisio ca root-crl', () => {
  /** A root with one signed intermediate (and its first root CRL); returns the paths and serial. */
  function signedIntermediate(): Ceremony & { crt: string; firstCrl: string; serial: string } {
    const c = rootAndRequest();
    const crt = join(c.ca, 'intermediate.crt');
    const sign = provisio(
      ['ca', 'sign-intermediate', '--root', c.root, '--csr', join(c.ca, 'intermediate.csr'), '--out', crt, '--crl-url', 'http://ca.example:8080/crl/root.crl', '--json'],
      { env: ROOT_ENV },
    );
    assert.equal(sign.status, 0, transcript(sign));
    const result = JSON.parse(sign.stdout);
    return { ...c, crt, firstCrl: result.rootCrl.path, serial: result.serial };
  }

  const state = (root: string) => readFileSync(join(root, 'root-crl.json'), 'utf8');
  const crlText = (path: string) => openssl(['crl', '-in', path, '-noout', '-text']).stdout;
  const crlNumber = (path: string) => /X509v3 CRL Number:\s*\n\s*(\d+)/.exec(crlText(path))?.[1];

  it('ok/root-crl/signed-by-root-number-rises-revoked-intermediate-listed-with-reason', () => {
    const c = signedIntermediate();
    // sign-intermediate wrote the first root CRL beside --out, and the intermediate names its URL.
    assert.equal(c.firstCrl, join(c.ca, 'root.crl'));
    assert.equal(mode(c.firstCrl), 0o644);
    assert.match(openssl(['x509', '-in', c.crt, '-noout', '-text']).stdout, /CRL Distribution Points:\s*\n\s*Full Name:\s*\n\s*URI:http:\/\/ca\.example:8080\/crl\/root\.crl/);
    const rootCrt = join(c.root, 'root.crt');
    const verify = (crl: string) => openssl(['crl', '-in', crl, '-CAfile', rootCrt, '-noout', '-verify']);
    assert.match(verify(c.firstCrl).output, /verify OK/);
    assert.equal(crlNumber(c.firstCrl), '1');
    assert.match(crlText(c.firstCrl), /No Revoked Certificates/);
    assert.equal(mode(join(c.root, 'root-crl.json')), 0o600);

    const plain = join(c.dir, 'root-2.crl');
    const r2 = provisio(['ca', 'root-crl', '--root', c.root, '--out', plain, '--next-update', '30d'], { env: ROOT_ENV });
    assert.equal(r2.status, 0, transcript(r2));
    assert.match(r2.stdout, new RegExp(`^✔ Root CRL number 2: ${plain} \\(PEM, 0 revoked\\)$`, 'm'));
    assert.match(r2.stderr, /about to sign a root CRL with the root key/);
    assert.ok(!r2.stdout.includes(ROOT_PASSPHRASE) && !r2.stderr.includes(ROOT_PASSPHRASE));
    assert.equal(crlNumber(plain), '2');
    assert.match(verify(plain).output, /verify OK/);
    const text2 = crlText(plain);
    const last = new Date(/Last Update: (.+)/.exec(text2)?.[1] as string);
    const next = new Date(/Next Update: (.+)/.exec(text2)?.[1] as string);
    assert.equal(Math.round((next.getTime() - last.getTime()) / 86_400_000), 30, text2);

    const revokedPath = join(c.dir, 'root-3.crl');
    const r3 = provisio(['ca', 'root-crl', '--root', c.root, '--out', revokedPath, '--revoke', c.serial, '--reason', 'cACompromise', '--json'], { env: ROOT_ENV });
    assert.equal(r3.status, 0, transcript(r3));
    const summary = JSON.parse(r3.stdout);
    assert.equal(summary.crl.crlNumber, '3');
    assert.equal(summary.revokedNow, c.serial);
    assert.deepEqual(summary.crl.revoked.map((e: { serial: string; reason: string }) => [e.serial, e.reason]), [[c.serial, 'cACompromise']]);
    assert.match(verify(revokedPath).output, /verify OK/);
    const text3 = crlText(revokedPath);
    assert.match(text3, new RegExp(`Serial Number: ${c.serial.toUpperCase()}\\s*\\n\\s*Revocation Date: .*\\n\\s*CRL entry extensions:\\s*\\n\\s*X509v3 CRL Reason Code:\\s*\\n\\s*CA Compromise`));

    // The revoked intermediate fails openssl's revocation check against the root's CRL; the
    // earlier CRL still passes it.
    assert.match(openssl(['verify', '-crl_check', '-CAfile', rootCrt, '-CRLfile', plain, c.crt]).stdout, /: OK$/m);
    const refused = openssl(['verify', '-crl_check', '-CAfile', rootCrt, '-CRLfile', revokedPath, c.crt]);
    assert.notEqual(refused.status, 0, refused.output);
    assert.match(refused.output, /certificate revoked/);

    // Revoking it again, by its certificate file, keeps the first entry and still raises the number.
    const again = join(c.dir, 'root-4.crl');
    const r4 = provisio(['ca', 'root-crl', '--root', c.root, '--out', again, '--revoke', c.crt, '--reason', 'keyCompromise', '--json'], { env: ROOT_ENV });
    assert.equal(r4.status, 0, transcript(r4));
    assert.equal(JSON.parse(r4.stdout).crl.crlNumber, '4');
    assert.equal(JSON.parse(r4.stdout).revokedNow, null);
    assert.match(r4.stderr, /listed already; its first revocation time and reason are kept/);
    assert.match(crlText(again), /CA Compromise/);
    assert.doesNotMatch(crlText(again), /Key Compromise/);

    // A later intermediate's ceremony signs number 5, still listing the revoked one.
    const next2 = join(c.dir, 'ca2');
    assert.equal(provisio(['ca', 'new-intermediate', '--out', next2]).status, 0);
    const sign2 = provisio(['ca', 'sign-intermediate', '--root', c.root, '--csr', join(next2, 'intermediate.csr'), '--out', join(next2, 'intermediate.crt')], { env: ROOT_ENV });
    assert.equal(sign2.status, 0, transcript(sign2));
    assert.match(sign2.stderr, /warning: no --crl-url/);
    assert.equal(crlNumber(join(next2, 'root.crl')), '5');
    assert.match(crlText(join(next2, 'root.crl')), new RegExp(c.serial.toUpperCase()));
  });

  it('fail/root-crl/refusals-change-nothing', () => {
    const c = signedIntermediate();
    const before = state(c.root);
    const out = join(c.dir, 'never.crl');
    const cases: Array<[string, string[], Record<string, string>, number, RegExp]> = [
      ['unknown serial', ['--revoke', 'abcdef01', '--reason', 'superseded'], ROOT_ENV, 6, /serial abcdef01 is not recorded in .*issued.* \[ca_serial_unknown\]$/m],
      ['foreign certificate', ['--revoke', join(c.root, 'root.crt'), '--reason', 'superseded'], ROOT_ENV, 6, /\[ca_serial_unknown\]$/m],
      ['wrong passphrase', [], { PROVISIO_ROOT_PASSPHRASE: 'not the passphrase at all' }, 4, /\[key_passphrase_wrong\]$/m],
      ['revoke without reason', ['--revoke', c.serial], ROOT_ENV, 2, /--revoke needs --reason.* \[usage_invalid\]$/m],
      ['reason without revoke', ['--reason', 'superseded'], ROOT_ENV, 2, /\[usage_invalid\]$/m],
      ['removeFromCRL', ['--revoke', c.serial, '--reason', 'removeFromCRL'], ROOT_ENV, 3, /\[revocation_reason_invalid\]$/m],
      ['unknown reason', ['--revoke', c.serial, '--reason', 'stolen'], ROOT_ENV, 3, /\[revocation_reason_invalid\]$/m],
      ['next update too far', ['--next-update', '4000d'], ROOT_ENV, 2, /--next-update must be whole days from 1d to 3650d/],
    ];
    for (const [name, extra, env, status, pattern] of cases) {
      const r = provisio(['ca', 'root-crl', '--root', c.root, '--out', out, ...extra], { env });
      assert.equal(r.status, status, `${name}: ${transcript(r)}`);
      assert.match(r.stderr, pattern, name);
      assert.equal(existsSync(out), false, `${name}: no CRL written`);
      assert.equal(state(c.root), before, `${name}: the CRL number is not spent`);
    }
    const taken = join(c.dir, 'taken.crl');
    writeFileSync(taken, 'keep me');
    const r = provisio(['ca', 'root-crl', '--root', c.root, '--out', taken], { env: ROOT_ENV });
    assert.equal(r.status, 7, transcript(r));
    assert.equal(readFileSync(taken, 'utf8'), 'keep me');
    assert.equal(state(c.root), before);

    // A damaged state file stops the ceremony instead of restarting the numbers.
    writeFileSync(join(c.root, 'root-crl.json'), '{"v":1,"crlNumber":"x","revoked":[]}');
    const bad = provisio(['ca', 'root-crl', '--root', c.root, '--out', out], { env: ROOT_ENV });
    assert.equal(bad.status, 3, transcript(bad));
    assert.match(bad.stderr, /root-crl\.json is not the root CRL state provisio writes.* \[ca_state_invalid\]$/m);
    assert.equal(existsSync(out), false);
  });
});

describe('provisio usage', () => {
  it('ok/help/leads-with-examples', () => {
    for (const args of [
      ['--help'],
      ['help'],
      [],
      ['ca', '--help'],
      ['help', 'ca', 'sign-intermediate'],
      ['inspect', '-h'],
    ]) {
      const r = provisio(args);
      assert.equal(r.status, 0, `${args.join(' ')}: ${transcript(r)}`);
      const lines = r.stdout.split('\n');
      assert.equal(lines[2], 'Examples:', `${args.join(' ')}: help starts with examples\n${r.stdout}`);
    }
  });

  it('ok/version', () => {
    const r = provisio(['--version']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^provisio \d+\.\d+\.\d+\n$/);
  });

  for (const [name, args, pattern] of [
    ['unknown-command', ['certificate', 'inspect'], /unknown command "certificate"/],
    ['abbreviation-refused', ['ca', 'init'], /unknown command "ca init".*\n.*did you mean "provisio ca init-root"/],
    ['unknown-flag', ['ca', 'init-root', '--out', 'x', '--force'], /unknown flag --force for "provisio ca init-root"/],
    ['missing-value', ['ca', 'init-root', '--out'], /flag --out needs a value/],
    ['missing-required', ['ca', 'init-root'], /"provisio ca init-root" needs --out/],
    ['bad-number', ['ca', 'init-root', '--out', 'x', '--years', '1e3'], /--years must be a whole number from 1 to 40/],
    ['bad-key-type', ['ca', 'new-intermediate', '--out', 'x', '--key-type', 'ed25519'], /--key-type must be one of/],
    ['extra-argument', ['inspect', 'a', 'b'], /unexpected argument "b"/],
  ] as const) {
    it(`fail/usage/${name}`, () => {
      const r = provisio(args);
      assert.equal(r.status, 2, transcript(r));
      assert.match(r.stderr, pattern);
      assert.match(r.stderr, /^provisio: error: .* \[usage_invalid\]$/m);
      assert.match(r.stderr, /^provisio: hint: /m);
      assert.equal(r.stdout, '');
    });
  }
});
