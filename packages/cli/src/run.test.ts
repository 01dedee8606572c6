/**
 * The CLI in-process with fake ports: the terminal prompt (which the child-process tests cannot
 * reach without a TTY), colour rules, unexpected errors, and exact validity on a fixed clock.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { importPrivateKeyPem, parseCertificate } from '@provisio/pki';
import { fixedClock, seededRandom, tempDir } from '@provisio/testkit';
import { Interrupted } from './errors.js';
import type { CliDeps, Terminal } from './io.js';
import { run } from './run.js';

interface Fake {
  readonly deps: CliDeps;
  readonly out: string[];
  readonly err: string[];
  readonly prompts: string[];
}

function fake(
  options: {
    env?: Record<string, string>;
    answers?: Array<string | Error>;
    tty?: boolean;
    stdin?: () => Promise<Buffer>;
  } = {},
): Fake {
  const out: string[] = [];
  const err: string[] = [];
  const prompts: string[] = [];
  const answers = [...(options.answers ?? [])];
  const terminal: Terminal | null = options.answers
    ? {
        readSecret: async (prompt) => {
          prompts.push(prompt);
          const next = answers.shift();
          if (next === undefined) throw new Error('no more answers');
          if (next instanceof Error) throw next;
          return next;
        },
      }
    : null;
  return {
    out,
    err,
    prompts,
    deps: {
      clock: fixedClock('2026-06-01T12:00:00Z'),
      random: seededRandom('run-test'),
      env: options.env ?? {},
      stdout: { write: (t) => void out.push(t), isTTY: options.tty === true },
      stderr: { write: (t) => void err.push(t), isTTY: options.tty === true },
      readStdin: options.stdin ?? (async () => Buffer.alloc(0)),
      terminal,
      version: '0.0.0-test',
    },
  };
}

const ESC = '\u001b';
const TYPED = 'typed at the terminal, never echoed';

describe('run (in-process)', () => {
  it('ok/init-root/prompts-twice-and-encrypts-with-the-typed-passphrase', async () => {
    const out = join(tempDir(), 'root');
    const f = fake({ answers: [TYPED, TYPED] });
    assert.equal(await run(['ca', 'init-root', '--out', out], f.deps), 0, f.err.join(''));
    assert.deepEqual(f.prompts, ['Passphrase for the root key: ', 'Repeat the passphrase for the root key: ']);
    assert.doesNotThrow(() => importPrivateKeyPem(readFileSync(join(out, 'root.key'), 'utf8'), TYPED));
    assert.ok(!f.out.join('').includes(TYPED) && !f.err.join('').includes(TYPED));

    // Fixed clock: backdated one hour, 20 years by default, 128-bit serial.
    const cert = parseCertificate(readFileSync(join(out, 'root.crt')));
    assert.equal(cert.notBefore.toISOString(), '2026-06-01T11:00:00.000Z');
    assert.equal(cert.notAfter.toISOString(), '2046-06-01T12:00:00.000Z');
    assert.ok(cert.serial.length >= 30 && cert.serial.length <= 32);
    assert.equal(cert.decoded.basicConstraints?.pathLength, undefined);
  });

  it('fail/init-root/passphrases-differ', async () => {
    const out = join(tempDir(), 'root');
    const f = fake({ answers: [TYPED, `${TYPED}!`] });
    assert.equal(await run(['ca', 'init-root', '--out', out], f.deps), 3);
    assert.match(f.err.join(''), /the two passphrases differ; nothing was written \[passphrase_mismatch\]/);
    assert.equal(existsSync(out), false);
  });

  it('fail/init-root/ctrl-c-at-the-prompt', async () => {
    const out = join(tempDir(), 'root');
    const f = fake({ answers: [new Interrupted('ctrl-c')] });
    assert.equal(await run(['ca', 'init-root', '--out', out], f.deps), 130);
    assert.equal(f.err.join(''), '');
    assert.equal(existsSync(out), false);
  });

  it('ok/sign-intermediate/prompts-once-after-showing-what-will-be-signed', async () => {
    const dir = tempDir();
    const root = join(dir, 'root');
    const ca = join(dir, 'ca');
    assert.equal(await run(['ca', 'init-root', '--out', root], fake({ answers: [TYPED, TYPED] }).deps), 0);
    assert.equal(await run(['ca', 'new-intermediate', '--out', ca], fake().deps), 0);
    const f = fake({ answers: [TYPED] });
    const args = ['ca', 'sign-intermediate', '--root', root, '--csr', join(ca, 'intermediate.csr')];
    const code = await run([...args, '--out', join(ca, 'intermediate.crt'), '--days', '30'], f.deps);
    assert.equal(code, 0, f.err.join(''));
    assert.deepEqual(f.prompts, ['Passphrase for the root key: ']);
    assert.match(f.err.join(''), /about to sign with the root key:\n {2}subject +CN=Provisio Issuing CA\n/);
    const cert = parseCertificate(readFileSync(join(ca, 'intermediate.crt')));
    assert.equal(cert.notBefore.toISOString(), '2026-06-01T11:00:00.000Z');
    assert.equal(cert.notAfter.toISOString(), '2026-07-01T12:00:00.000Z');
  });

  it('ok/colour/only-on-a-tty-without-no-color', async () => {
    const tty = fake({ tty: true });
    await run(['ca', 'init-root'], tty.deps);
    assert.ok(tty.err.join('').includes(`${ESC}[31merror${ESC}[39m`), tty.err.join(''));
    const noColor = fake({ tty: true, env: { NO_COLOR: '1' } });
    await run(['ca', 'init-root'], noColor.deps);
    assert.ok(!noColor.err.join('').includes(ESC));
    const pipe = fake({ tty: false });
    await run(['inspect', '-'], pipe.deps);
    assert.ok(!pipe.err.join('').includes(ESC));
  });

  it('fail/internal/generic-message-unless-debug', async () => {
    const secret = 'details that may not leak';
    const boom = async (): Promise<Buffer> => {
      throw new Error(secret);
    };
    const quiet = fake({ stdin: boom });
    assert.equal(await run(['inspect', '-'], quiet.deps), 1);
    assert.match(quiet.err.join(''), /^provisio: error: an unexpected error occurred \[internal_error\]$/m);
    assert.ok(!quiet.err.join('').includes(secret));
    const debug = fake({ stdin: boom, env: { PROVISIO_DEBUG: '1' } });
    assert.equal(await run(['inspect', '-'], debug.deps), 1);
    assert.ok(debug.err.join('').includes(secret));
  });
});
