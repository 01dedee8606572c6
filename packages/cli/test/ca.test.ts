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
