/**
 * Connected delivery as a person runs it: `provisio serve` in its own process, then
 * `provisio device provision` in another, which waits until an approver approves with the CLI,
 * then installs the profile; `openssl verify` checks the installed certificate.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openssl, tempDir } from '@provisio/testkit';
import { MAIN, type ServeProcess, ok, provisio, startServe, transcript } from './run-cli.js';

/** `provisio ARGS` in the background with no PROVISIO_* variables (a device knows none). */
function background(args: string[]): { child: ChildProcess; output: () => string; done: Promise<number | null> } {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PROVISIO_')) env[k] = v;
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let text = '';
  child.stdout?.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (text += c.toString()));
  const done = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { child, output: () => text, done };
}

async function until(what: string, check: () => boolean, output: () => string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}:\n${output()}`);
}

describe('device provision via the CLI against provisio serve', () => {
  let server: ServeProcess;
  const dir = tempDir('provisio-connected-');

  before(async () => {
    server = await startServe(['--data', join(dir, 'data')]);
  });
  after(async () => server?.stop());

  it('ok/provision-waits-for-approval-then-installs', async () => {
    const env = server.env;
    ok(['system', 'create', 'ZMonitor'], env);
    ok(['component', 'create', '--system', 'ZMonitor', 'bedside monitor'], env);
    const pkg = join(dir, 'zmonitor.ppkg');
    ok(['package', 'create', '--system', 'ZMonitor', '--out', pkg], env);
    const keystore = join(dir, 'keystore');

    // The URL comes from the package (serve's public URL).
    const run = background(['device', 'provision', '--package', pkg, '--component', 'bedside monitor', '--id', 'CON-001', '--label', 'Bed 12', '--dir', keystore, '--wait', '120']);
    try {
      await until('the request to be pending', () => /Waiting for approval \(pending\)/.test(run.output()), run.output);
      const out = run.output();
      assert.match(out, /✔ 1\/5 Key generated: /);
      const requestId = /submitted to \S+ as (req_[0-9a-f]{32})/.exec(out)?.[1];
      assert.ok(requestId, out);
      ok(['request', 'approve', requestId], env);
      const code = await run.done;
      assert.equal(code, 0, run.output());
      assert.match(run.output(), /✔ 4\/5 Profile verified against .*root\.crt and installed/);
      // The first mutual-TLS call with the new certificate marked the device provisioned: no
      // "device complete" step for connected delivery.
      assert.match(run.output(), /✔ 5\/5 Mutual TLS with the new certificate: the service marked CON-001 provisioned/);
      assert.doesNotMatch(run.output(), /device complete/);
    } finally {
      if (run.child.exitCode === null) run.child.kill('SIGTERM');
    }

    const certs = readFileSync(join(keystore, 'certificate.pem'), 'utf8');
    const [leaf, intermediate] = certs.split(/(?<=-----END CERTIFICATE-----\n)/);
    const files = tempDir();
    writeFileSync(join(files, 'leaf.pem'), leaf ?? '');
    writeFileSync(join(files, 'int.pem'), intermediate ?? '');
    const v = openssl(['verify', '-CAfile', env.PROVISIO_CA_FILE as string, '-untrusted', join(files, 'int.pem'), join(files, 'leaf.pem')]);
    assert.match(v.output, /leaf\.pem: OK/, v.output);

    // Run again (a restart): nothing new is generated or installed.
    const again = provisio(['device', 'provision', '--package', pkg, '--component', 'bedside monitor', '--id', 'CON-001', '--label', 'Bed 12', '--dir', keystore]);
    assert.equal(again.status, 0, transcript(again));
    assert.match(again.stdout, /already in .*resuming/);
    assert.match(again.stdout, /Profile already installed/);

    assert.match(again.stdout, /Already confirmed over mutual TLS/);

    const shown = JSON.parse(ok(['device', 'get', 'CON-001', '--json'], env).stdout) as { state: string };
    assert.equal(shown.state, 'provisioned');
    const audit = JSON.parse(ok(['audit', 'list', '--action', 'device.confirm', '--json'], env).stdout) as unknown;
    assert.match(JSON.stringify(audit), /device:CON-001/);
    // Completing by hand afterwards is harmless (idempotent).
    ok(['device', 'complete', 'CON-001'], env);
  });
});
