/**
 * Approval repeats, in its own transaction, what intake checked and may have changed while the
 * request waited (docs/decisions.md D28), and keeps separation of duties: through the real API
 * on SQLite and PostgreSQL. Each refusal asserts its code, the request still pending, and the
 * database unchanged (row counts and the audit head). What no API changes today (a component's
 * key types, a user's role or disabled flag) is changed in the database, as an operator would.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { initDevice, provisionConnected, reprovisionConnected } from '@provisio/device';
import { type FixedClock, fixedClock, tempDir } from '@provisio/testkit';
import { REQUEST_MEDIA, type TestService, makeRequest, startTestService } from './service-harness.js';

const PG_URL = process.env.PROVISIO_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const random = { bytes: (n: number) => randomBytes(n) };

/** SQL on the service's own database, from outside the service. */
interface Sql {
  run(statement: string): Promise<void>;
  one<T>(statement: string): Promise<T>;
  close(): Promise<void>;
}

function suite(label: string, open: () => Promise<{ options: { db?: string; dbSchema?: string }; sql: (t: TestService) => Promise<Sql>; cleanup?: () => Promise<void> }>) {
  describe(`approval checks repeated at approval, and separation of duties (${label})`, () => {
    let t: TestService;
    let sql: Sql;
    let clock: FixedClock;
    let cleanup: (() => Promise<void>) | undefined;
    const tokens = { approver: '', technician: '', carol: '' };
    const work = tempDir('provisio-approve-rechecks-');

    before(async () => {
      const opened = await open();
      cleanup = opened.cleanup;
      // Real time: the service's TLS certificate is checked by Node with the real clock.
      clock = fixedClock(new Date());
      t = await startTestService({ ...opened.options, clock, webRoot: null });
      sql = await opened.sql(t);
      for (const [username, role] of [['abe', 'approver'], ['tom', 'technician'], ['carol', 'approver']] as const) {
        const r = await t.call('POST', '/api/v1/users', { json: { username, role } });
        assert.equal(r.status, 201, r.body.toString());
        tokens[username === 'abe' ? 'approver' : username === 'tom' ? 'technician' : 'carol'] = r.json().token as string;
      }
    });
    after(async () => {
      await sql?.close();
      await t?.close();
      await cleanup?.();
    });

    /** A system with the default settings (separation of duties on), one component, one package. */
    async function system(name: string, keyTypes = ['p256']): Promise<{ packageText: string; packageId: string }> {
      let r = await t.call('POST', '/api/v1/systems', { json: { name } });
      assert.equal(r.status, 201, r.body.toString());
      assert.equal(r.json().separationOfDuties, true, 'on by default');
      r = await t.call('POST', `/api/v1/systems/${name}/components`, { json: { name: 'monitor', keyTypes } });
      assert.equal(r.status, 201, r.body.toString());
      r = await t.call('POST', '/api/v1/packages', { json: { system: name } });
      assert.equal(r.status, 201, r.body.toString());
      return { packageText: r.body.toString('utf8'), packageId: String(r.headers['x-package-id']) };
    }

    /** Uploads a request (as the technician unless a token is given); returns its id. */
    async function upload(packageText: string, deviceId: string, o: { mock?: boolean; token?: string } = {}): Promise<string> {
      const now = clock.now();
      const { text } = await makeRequest(packageText, deviceId, { component: 'monitor', createdAt: now, expiresAt: new Date(now.getTime() + 3_600_000), ...(o.mock ? { mock: true } : {}) });
      const r = await t.call('POST', '/api/v1/requests', { raw: Buffer.from(text), contentType: REQUEST_MEDIA, token: o.token ?? tokens.technician });
      assert.equal(r.status, 201, r.body.toString());
      return r.json().request.id as string;
    }

    /** What an approval writes: rows it adds and the audit head it moves. */
    const snapshot = async () => ({
      requests: await sql.one<{ n: number }>('select count(*) as n from requests where state = \'approved\''),
      devices: await sql.one<{ n: number }>('select count(*) as n from devices where state = \'approved\''),
      certificates: await sql.one<{ n: number }>('select count(*) as n from certificates'),
      profiles: await sql.one<{ n: number }>('select count(*) as n from profiles'),
      head: await sql.one<{ last_seq: number; last_hash: string }>('select last_seq, last_hash from audit_head'),
    });

    const approve = (id: string, token = tokens.approver) => t.call('POST', `/api/v1/requests/${id}/approve`, { token });

    /** The approval of `id` (single and bulk) is refused with `code`, and nothing changed. */
    async function refused(id: string, status: number, code: string, token = tokens.approver): Promise<void> {
      const before = await snapshot();
      const r = await approve(id, token);
      assert.equal(r.status, status, r.body.toString());
      assert.equal(r.json().error.code, code, r.body.toString());
      const bulk = await t.call('POST', '/api/v1/requests/approve', { token, json: { requestIds: [id] } });
      assert.equal(bulk.status, 200, bulk.body.toString());
      assert.deepEqual([bulk.json().approved, bulk.json().items[0].code], [0, code]);
      assert.deepEqual(await snapshot(), before, 'a refused approval changed the database');
      const request = (await t.call('GET', `/api/v1/requests/${id}`)).json();
      assert.equal(request.state, 'pending');
      assert.equal((await t.call('GET', `/api/v1/requests/${id}/profile`)).json().error.code, 'profile_not_found');
    }

    it('fail/package-revoked-while-pending/no-certificate', async () => {
      const { packageText, packageId } = await system('Revoked');
      const id = await upload(packageText, 'REV-1');
      const r = await t.call('POST', `/api/v1/packages/${packageId}/revoke`, { json: { reason: 'cessationOfOperation' } });
      assert.equal(r.status, 200, r.body.toString());
      await refused(id, 401, 'package_revoked');
      // Rejecting is what is left to do.
      assert.equal((await t.call('POST', `/api/v1/requests/${id}/reject`, { token: tokens.approver, json: { reason: 'package revoked' } })).status, 200);
    });

    it('fail/mock-switch-turned-off-while-pending', async () => {
      const { packageText } = await system('Mocks');
      const id = await upload(packageText, 'MOCK-1', { mock: true });
      assert.equal((await t.call('PATCH', '/api/v1/systems/Mocks', { json: { allowMock: false } })).status, 200);
      await refused(id, 403, 'mock_not_allowed');
      // Turned on again, the same request is approved.
      assert.equal((await t.call('PATCH', '/api/v1/systems/Mocks', { json: { allowMock: true } })).status, 200);
      assert.equal((await approve(id)).status, 200);
    });

    it('fail/component-key-types-changed-while-pending', async () => {
      const { packageText } = await system('Keys', ['p256', 'p384']);
      const id = await upload(packageText, 'KEY-1');
      const component = (await t.call('GET', '/api/v1/systems/Keys')).json().components[0];
      assert.deepEqual(component.keyTypes, ['p256', 'p384']);
      await sql.run(`update components set key_types = '["p384"]' where name = 'monitor' and system_id = (select id from systems where name = 'Keys')`);
      await refused(id, 400, 'key_type_not_allowed');
    });

    it('fail/request-expired-while-pending/checked-at-the-approval-s-time', async () => {
      const { packageText } = await system('Expiry');
      const id = await upload(packageText, 'EXP-1');
      clock.advance(3_600_000 + 1000);
      try {
        await refused(id, 409, 'request_expired');
      } finally {
        clock.set(new Date());
      }
    });

    it('fail/approver-disabled-or-demoted/an-ask-approves-nothing-then', async () => {
      // Provisioned without a person (automatic on connected), then the component turns manual.
      const { packageText } = await system('Asked');
      const policy = (mode: string) => t.call('POST', '/api/v1/systems/Asked/components/monitor/policy', { json: mode === 'automatic' ? { mode, rules: { transports: ['connected'] } } : { mode } });
      assert.equal((await policy('automatic')).status, 200);
      const dirs: string[] = [];
      for (const deviceId of ['ASK-1', 'ASK-2']) {
        const dir = join(work, deviceId);
        await initDevice({ clock, random }, { packageText, component: 'monitor', deviceId, deviceLabel: deviceId, dir });
        assert.equal((await provisionConnected({ clock, random }, { dir, serviceUrl: t.service.url, maxWaitMs: 30_000, maxPollIntervalMs: 100 })).serviceState, 'provisioned');
        dirs.push(dir);
      }
      assert.equal((await policy('manual')).status, 200);

      // Carol (an approver) asks for both; then she is disabled, and demoted, before the devices come.
      for (const deviceId of ['ASK-1', 'ASK-2']) {
        const r = await t.call('POST', `/api/v1/devices/${deviceId}/reprovision`, { token: tokens.carol, json: { reason: 'INC-4: new OCSP URL' } });
        assert.equal(r.status, 200, r.body.toString());
      }
      const changes = [`update users set disabled_at = ${Date.now()} where username = 'carol'`, `update users set disabled_at = null, role = 'technician' where username = 'carol'`];
      for (const [i, dir] of dirs.entries()) {
        await sql.run(changes[i] as string);
        const before = await snapshot();
        let submitted: { requestId: string; state: string } | undefined;
        await assert.rejects(
          reprovisionConnected({ clock, random }, {
            dir, serviceUrl: t.service.url, maxWaitMs: 0, longPollSeconds: 0,
            onProgress: (p) => {
              if (p.step === 'reprovision-submitted') submitted = { requestId: p.requestId, state: p.state };
            },
          }),
          /still pending/,
        );
        assert.equal(submitted?.state, 'pending', 'the ask no longer approves: its asker is not an approver now');
        const after = await snapshot();
        // Only the intake's request.submit entry was written: no certificate, no profile, no approval.
        assert.deepEqual({ ...after, head: after.head.last_seq }, { ...before, head: before.head.last_seq + 1 });
        const entries = (await t.call('GET', `/api/v1/audit?target=${submitted?.requestId}`)).json().items as { action: string }[];
        assert.deepEqual(entries.map((e) => e.action), ['request.submit']);
        // An approver who still is one approves it.
        assert.equal((await approve(submitted?.requestId as string)).status, 200);
      }
    });

    it('fail/submitter-approves-own-request/refused-unless-the-system-turns-it-off', async () => {
      const { packageText } = await system('Duties');
      // The admin uploads; the admin may not approve it too.
      const own = await upload(packageText, 'SOD-1', { token: t.adminToken });
      const request = (await t.call('GET', `/api/v1/requests/${own}`)).json();
      assert.equal(request.submittedBy, 'admin');
      await refused(own, 403, 'approver_is_submitter', t.adminToken);
      // Another approver may.
      assert.equal((await approve(own)).status, 200);

      // An admin turns it off for this system: the uploader approves their own upload.
      const second = await upload(packageText, 'SOD-2', { token: t.adminToken });
      const off = await t.call('PATCH', '/api/v1/systems/Duties', { json: { separationOfDuties: false } });
      assert.equal(off.status, 200, off.body.toString());
      assert.equal(off.json().separationOfDuties, false);
      const r = await approve(second, t.adminToken);
      assert.equal(r.status, 200, r.body.toString());
      const updates = (await t.call('GET', '/api/v1/audit?action=system.update&target=Duties')).json().items as { details: unknown }[];
      assert.deepEqual(updates.map((e) => e.details), [{ separationOfDuties: { from: true, to: false } }]);

      // On again: refused again; bad bodies change nothing.
      assert.equal((await t.call('PATCH', '/api/v1/systems/Duties', { json: { separationOfDuties: true } })).status, 200);
      const third = await upload(packageText, 'SOD-3', { token: t.adminToken });
      await refused(third, 403, 'approver_is_submitter', t.adminToken);
      for (const json of [{}, { separationOfDuties: 'off' }]) {
        const bad = await t.call('PATCH', '/api/v1/systems/Duties', { json });
        assert.equal(bad.status, 400, JSON.stringify(json));
        assert.equal(bad.json().error.code, 'validation_failed');
      }
      const refusedRole = await t.call('PATCH', '/api/v1/systems/Duties', { token: tokens.approver, json: { separationOfDuties: false } });
      assert.equal(refusedRole.json().error.code, 'role_forbidden');
      assert.equal((await t.call('GET', '/api/v1/systems/Duties')).json().separationOfDuties, true);
    });

    it('fail/automatic-approval-finished-later/package-revoked-meanwhile', async () => {
      // A crash between intake and the automatic approval leaves the request pending with the
      // verdict "approve"; the device's resubmission finishes it (docs/service.md) — unless its
      // package was revoked meanwhile.
      const { packageText, packageId } = await system('AutoLater');
      const now = clock.now();
      const made = [0, 1].map(() => makeRequest(packageText, `LATE-${randomBytes(3).toString('hex')}`, { component: 'monitor', createdAt: now, expiresAt: new Date(now.getTime() + 3_600_000) }));
      const ids: string[] = [];
      for (const m of made) {
        const r = await t.call('POST', '/api/v1/device/requests', { token: null, raw: Buffer.from((await m).text), contentType: REQUEST_MEDIA });
        assert.equal(r.status, 201, r.body.toString());
        ids.push(r.json().request.id as string);
      }
      assert.equal((await t.call('POST', '/api/v1/systems/AutoLater/policy', { json: { mode: 'automatic', rules: { transports: ['connected'] } } })).status, 200);
      await sql.run(`update requests set policy_decision = 'approve', policy_rule = 'transports', policy_reason = 'rules transports passed' where id in (${ids.map((id) => `'${id}'`).join(', ')})`);
      const resubmit = async (i: number) => t.call('POST', '/api/v1/device/requests', { token: null, raw: Buffer.from((await made[i] as { text: string }).text), contentType: REQUEST_MEDIA });
      // The control: resubmitted, the first is approved by the policy.
      assert.equal((await resubmit(0)).json().request.state, 'approved');
      assert.equal((await t.call('POST', `/api/v1/packages/${packageId}/revoke`, { json: { reason: 'cessationOfOperation' } })).status, 200);
      const before = await snapshot();
      const r = await resubmit(1);
      assert.equal(r.json().request.state, 'pending', r.body.toString());
      assert.deepEqual(await snapshot(), before, 'the refused automatic approval wrote nothing');
    });

    it('ok/automatic-approval-and-mock-devices-are-not-a-person', async () => {
      const { packageText } = await system('AutoDuties');
      assert.equal((await t.call('POST', '/api/v1/systems/AutoDuties/policy', { json: { mode: 'automatic', rules: { transports: ['upload'] } } })).status, 200);
      const now = clock.now();
      const { text } = await makeRequest(packageText, 'AUTO-1', { component: 'monitor', createdAt: now, expiresAt: new Date(now.getTime() + 3_600_000) });
      const r = await t.call('POST', '/api/v1/requests', { raw: Buffer.from(text), contentType: REQUEST_MEDIA });
      assert.equal(r.status, 201, r.body.toString());
      assert.equal(r.json().request.state, 'approved', 'the admin uploaded it; the policy approved it');
      const mocks = await t.call('POST', '/api/v1/mock-devices', { json: { system: 'AutoDuties', component: 'monitor', count: 1 } });
      assert.equal(mocks.status, 201, mocks.body.toString());
    });
  });
}

suite('SQLite', async () => ({
  options: {},
  sql: async (t) => {
    const db = new Database(join(t.dataDir, 'provisio.db'));
    db.pragma('busy_timeout = 5000');
    return {
      run: async (statement) => void db.prepare(statement).run(),
      one: async <T>(statement: string) => db.prepare(statement).get() as T,
      close: async () => void db.close(),
    };
  },
}));

suite('PostgreSQL', async () => {
  const schema = `provisio_test_${randomBytes(6).toString('hex')}`;
  return {
    options: { db: PG_URL, dbSchema: schema },
    sql: async () => {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`set search_path to ${schema}`);
      return {
        run: async (statement) => void (await client.query(statement)),
        one: async <T>(statement: string) => {
          const row = (await client.query(statement)).rows[0] as Record<string, unknown>;
          // count(*) and bigint columns come back as text: compare numbers on both databases.
          return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v])) as T;
        },
        close: () => client.end(),
      };
    },
    cleanup: async () => {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`drop schema if exists ${schema} cascade`);
      await client.end();
    },
  };
});
