/**
 * The long-running agent (`provisio device run`) as real processes (docs/device.md, "The agent"):
 * killed with SIGKILL between steps and started again, it resumes where it was and ends
 * provisioned exactly once; with manual approval it waits, an approver approves through the API,
 * and it completes on its own; SIGTERM/SIGINT stop it cleanly.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { tempDir } from '@provisio/testkit';
import { agent, api, kill, setUp, until } from './connected-helpers.js';
import { type ServeProcess, ok, startServe } from './run-cli.js';

describe('provisio device run (real processes)', () => {
  const dir = tempDir('provisio-agent-');
  const servers: ServeProcess[] = [];
  after(async () => {
    for (const s of servers) await s.stop();
  });

  it('ok/agent-killed-between-steps-resumes-and-ends-provisioned-once', async () => {
    const server = await startServe(['--data', join(dir, 'data-b')]);
    servers.push(server);
    const env = server.env;
    const pkg = setUp(env, dir, 'Agent', false);
    const keystore = join(dir, 'agent-b');
    ok(['device', 'init', '--package', pkg, '--component', 'sensor', '--id', 'AG-001', '--label', 'Agent 1', '--dir', keystore], env);

    // Run 1: submits, then waits for approval (manual); stopped with SIGTERM while waiting.
    let run = agent(['--dir', keystore]);
    await until('the agent to wait', () => /Waiting for approval/.test(run.output()), run.output);
    assert.match(run.output(), /✔ 1\/5 Key and request in /);
    const requestId = /2\/5 Request submitted to \S+ as (req_[0-9a-f]+)/.exec(run.output())?.[1];
    assert.ok(requestId, run.output());
    await kill(run.child, 'SIGTERM');
    assert.equal(await run.done, 0, run.output());
    assert.match(run.output(), /Agent stopped before provisioning completed; its progress is kept/);
    assert.ok(existsSync(join(keystore, 'submission.json')), 'the submitted step was recorded');

    // Run 2: resumes at "submitted" (does not submit again) and waits; killed (SIGKILL) this time.
    run = agent(['--dir', keystore]);
    await until('the agent to resume', () => /Waiting for approval/.test(run.output()), run.output);
    assert.match(run.output(), new RegExp(`2/5 Request already submitted as ${requestId}`));
    assert.doesNotMatch(run.output(), /Request submitted to/);
    await kill(run.child, 'SIGKILL');

    // Approved while no agent runs; run 3 fetches, installs, confirms, then stays up idle.
    assert.equal((await api(env, 'POST', `/api/v1/requests/${requestId}/approve`)).status, 200);
    run = agent(['--dir', keystore]);
    await until('the agent to be provisioned', () => /agent running/.test(run.output()), run.output);
    assert.match(run.output(), /3\/5 Approved: certified profile received/);
    assert.match(run.output(), /4\/5 Profile verified against .* and installed/);
    assert.match(run.output(), /5\/5 Mutual TLS with the new certificate: the service marked AG-001 provisioned/);
    assert.equal(run.child.exitCode, null, 'still running once provisioned');
    await kill(run.child, 'SIGTERM');
    assert.equal(await run.done, 0, run.output());
    assert.match(run.output(), /Agent stopped \(provisioned\)/);

    // Run 4: already provisioned, sends nothing new.
    run = agent(['--dir', keystore]);
    await until('the agent to say provisioned', () => /agent running/.test(run.output()), run.output);
    assert.match(run.output(), /4\/5 Profile already installed/);
    await kill(run.child, 'SIGINT');
    assert.equal(await run.done, 0, run.output());

    const device = (await api(env, 'GET', '/api/v1/devices/AG-001')).body as { state: string; certificates: unknown[] };
    assert.equal(device.state, 'provisioned');
    assert.equal(device.certificates.length, 1);
    assert.equal((await api(env, 'GET', '/api/v1/requests?system=Agent')).body.total, 1, 'one request, never duplicated');
    const confirms = (await api(env, 'GET', '/api/v1/audit?action=device.confirm&target=AG-001')).body;
    assert.equal(confirms.total, 1, 'confirmed exactly once');
  });

  it('ok/manual-approval-the-agent-waits-and-completes-on-its-own', async () => {
    const server = await startServe(['--data', join(dir, 'data-c')]);
    servers.push(server);
    const env = server.env;
    const pkg = setUp(env, dir, 'Manual', false);
    const keystore = join(dir, 'agent-c');
    ok(['device', 'init', '--package', pkg, '--component', 'sensor', '--id', 'MAN-001', '--label', 'Manual 1', '--dir', keystore], env);
    const run = agent(['--dir', keystore]);
    try {
      await until('the agent to wait', () => /Waiting for approval/.test(run.output()), run.output);
      const pending = (await api(env, 'GET', '/api/v1/requests?state=pending&system=Manual')).body as { items: { id: string; deviceId: string }[] };
      assert.equal(pending.items.length, 1);
      assert.equal(pending.items[0]?.deviceId, 'MAN-001');
      assert.equal((await api(env, 'POST', `/api/v1/requests/${pending.items[0]?.id}/approve`)).status, 200);
      await until('the agent to complete', () => /agent running/.test(run.output()), run.output);
      assert.match(run.output(), /5\/5 Mutual TLS with the new certificate: the service marked MAN-001 provisioned/);
      assert.equal((await api(env, 'GET', '/api/v1/devices/MAN-001')).body.state, 'provisioned');
    } finally {
      await kill(run.child, 'SIGTERM');
    }
    assert.equal(await run.done, 0, run.output());
  });
});
