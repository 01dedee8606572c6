/**
 * Browser sessions (docs/web.md): sign in with a password → an HttpOnly, Secure, SameSite=Strict
 * cookie and a CSRF token; unsafe requests on the cookie need the token; sign out and expiry end
 * the session; API tokens are unaffected. And the built UI's files at `/` with their headers.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { checkServerIdentity } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { fixedClock, tempDir } from '@provisio/testkit';
import { type Reply, type TestService, startTestService } from './service-harness.js';

const PASSWORD = 'correct horse battery staple';

function cookieOf(r: Reply): string {
  const header = r.headers['set-cookie'];
  const line = (Array.isArray(header) ? header[0] : header) ?? '';
  return line.split(';')[0] as string;
}

describe('browser sessions', () => {
  const clock = fixedClock(new Date());
  let t: TestService;

  before(async () => {
    t = await startTestService({ clock, webRoot: null });
    for (const [username, role] of [['alice', 'admin'], ['tina', 'technician']]) {
      const r = await t.call('POST', '/api/v1/users', { json: { username, role, password: PASSWORD } });
      assert.equal(r.status, 201, r.body.toString());
    }
  });
  after(() => t.close());

  async function signIn(username: string, password = PASSWORD) {
    return t.call('POST', '/api/v1/session', { token: null, json: { username, password } });
  }

  it('ok/sign-in-sets-a-strict-cookie-and-who-am-i-answers', async () => {
    const r = await signIn('alice');
    assert.equal(r.status, 201, r.body.toString());
    const setCookie = String(r.headers['set-cookie']);
    assert.match(setCookie, /^__Host-provisio_session=[A-Za-z0-9_-]{43}; Path=\/; Secure; HttpOnly; SameSite=Strict$/);
    const body = r.json();
    assert.equal(body.username, 'alice');
    assert.equal(body.role, 'admin');
    assert.match(body.csrfToken, /^[A-Za-z0-9_-]{43}$/);
    const me = await t.call('GET', '/api/v1/session', { token: null, headers: { cookie: cookieOf(r) } });
    assert.equal(me.status, 200);
    assert.equal(me.json().username, 'alice');
    assert.equal(me.json().csrfToken, body.csrfToken);
    // The cookie authenticates API reads.
    const list = await t.call('GET', '/api/v1/devices', { token: null, headers: { cookie: cookieOf(r) } });
    assert.equal(list.status, 200);
  });

  it('fail/wrong-password-and-unknown-user-get-one-answer-audited-without-the-password', async () => {
    const wrong = await signIn('alice', 'not the password at all');
    const unknown = await signIn('mallory', PASSWORD);
    for (const r of [wrong, unknown]) {
      assert.equal(r.status, 401);
      assert.deepEqual(r.json(), { error: { code: 'sign_in_failed', message: 'wrong username or password' } });
      assert.equal(r.headers['set-cookie'], undefined);
    }
    const audit = (await t.call('GET', '/api/v1/audit?action=session.sign_in_failed')).json();
    const seen = audit.items.map((e: { targetId: string; details: { reason: string } }) => `${e.targetId} ${e.details.reason}`).sort();
    // An unknown name is not recorded: it may be a password typed into the wrong field.
    assert.deepEqual(seen, ['(unknown user) unknown_user', 'alice wrong_password']);
    const all = (await t.call('GET', '/api/v1/audit?limit=500')).body.toString();
    assert.ok(!all.includes(PASSWORD) && !all.includes('not the password'), 'a password reached the audit log');
    assert.ok(all.includes('"session.sign_in"'));
  });

  it('fail/csrf/cookie-post-without-or-with-a-wrong-token-changes-nothing', async () => {
    const s = await signIn('alice');
    const cookie = cookieOf(s);
    // A page on another site cannot read the token, so it cannot send it: the forged call fails.
    const none = await t.call('POST', '/api/v1/systems', { token: null, json: { name: 'Forged' }, headers: { cookie } });
    assert.equal(none.status, 403);
    assert.equal(none.json().error.code, 'csrf_token_invalid');
    const other = await signIn('alice');
    const wrong = await t.call('POST', '/api/v1/systems', { token: null, json: { name: 'Forged' }, headers: { cookie, 'x-csrf-token': other.json().csrfToken } });
    assert.equal(wrong.json().error.code, 'csrf_token_invalid');
    assert.equal((await t.call('GET', '/api/v1/systems/Forged')).status, 404, 'a refused call created the system');
    const ok = await t.call('POST', '/api/v1/systems', { token: null, json: { name: 'Real' }, headers: { cookie, 'x-csrf-token': s.json().csrfToken } });
    assert.equal(ok.status, 201, ok.body.toString());
  });

  it('ok/bearer-token-needs-no-csrf-and-wins-over-a-cookie', async () => {
    const s = await signIn('tina');
    // The admin token with a technician's cookie: the token decides, and no CSRF header is needed.
    const r = await t.call('POST', '/api/v1/systems', { json: { name: 'ByToken' }, headers: { cookie: cookieOf(s) } });
    assert.equal(r.status, 201, r.body.toString());
  });

  it('fail/technician-session-may-not-approve', async () => {
    const s = await signIn('tina');
    const r = await t.call('POST', '/api/v1/requests/req_x/approve', { token: null, headers: { 'cookie': cookieOf(s), 'x-csrf-token': s.json().csrfToken } });
    assert.equal(r.status, 403);
    assert.equal(r.json().error.code, 'role_forbidden');
  });

  it('ok/sign-out-needs-the-token-and-ends-the-session', async () => {
    const s = await signIn('alice');
    const cookie = cookieOf(s);
    const forged = await t.call('DELETE', '/api/v1/session', { token: null, headers: { cookie } });
    assert.equal(forged.json().error.code, 'csrf_token_invalid');
    assert.equal((await t.call('GET', '/api/v1/session', { token: null, headers: { cookie } })).status, 200);
    const out = await t.call('DELETE', '/api/v1/session', { token: null, headers: { cookie, 'x-csrf-token': s.json().csrfToken } });
    assert.equal(out.status, 204);
    assert.match(String(out.headers['set-cookie']), /Max-Age=0/);
    const after = await t.call('GET', '/api/v1/devices', { token: null, headers: { cookie } });
    assert.equal(after.status, 401);
    assert.equal(after.json().error.code, 'session_expired');
  });

  it('fail/expired/idle-30-minutes-ends-the-session', async () => {
    const s = await signIn('alice');
    const cookie = cookieOf(s);
    clock.advance(29 * 60_000);
    assert.equal((await t.call('GET', '/api/v1/session', { token: null, headers: { cookie } })).status, 200, 'a request within the idle time keeps it alive');
    clock.advance(29 * 60_000);
    assert.equal((await t.call('GET', '/api/v1/session', { token: null, headers: { cookie } })).status, 200);
    clock.advance(30 * 60_000);
    const r = await t.call('GET', '/api/v1/session', { token: null, headers: { cookie } });
    assert.equal(r.status, 401);
    assert.equal(r.json().error.code, 'session_expired');
  });

  it('fail/login-csrf/a-form-post-cannot-sign-in', async () => {
    // The attack: another site's form posts text/plain shaped like JSON to sign the victim's
    // browser in as the attacker. Only a JSON object is accepted, which a form cannot send.
    const body = Buffer.from(`{"username":"alice","password":"${PASSWORD}","x":"="}`);
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded']) {
      const r = await t.call('POST', '/api/v1/session', { token: null, raw: body, contentType });
      assert.equal(r.status, 400, `${contentType}: ${r.body}`);
      assert.equal(r.json().error.code, 'validation_failed');
      assert.equal(r.headers['set-cookie'], undefined);
    }
  });

  it('fail/no-cookie-is-unauthenticated', async () => {
    const r = await t.call('GET', '/api/v1/session', { token: null });
    assert.equal(r.status, 401);
    assert.equal(r.json().error.code, 'unauthenticated');
  });
});

describe('sign-in throttle', () => {
  const clock = fixedClock(new Date());
  let t: TestService;

  before(async () => {
    t = await startTestService({ clock, webRoot: null });
    for (const username of ['alice', 'bob']) {
      const r = await t.call('POST', '/api/v1/users', { json: { username, role: 'auditor', password: PASSWORD } });
      assert.equal(r.status, 201, r.body.toString());
    }
  });
  after(() => t.close());

  const signIn = (username: string, password = PASSWORD) => t.call('POST', '/api/v1/session', { token: null, json: { username, password } });

  it('fail/guessing/a-growing-delay-per-username-and-per-address-429-retry-after-audited', async () => {
    // The attack: password guessing, first at one name, then rotating names from one address.
    for (let i = 0; i < 5; i++) assert.equal((await signIn('alice', `guess ${i}`)).status, 401);
    const throttled = await signIn('alice');
    assert.equal(throttled.status, 429, 'the right password is not even checked while throttled');
    assert.equal(throttled.json().error.code, 'sign_in_throttled');
    assert.equal(throttled.headers['retry-after'], '2');
    assert.equal(throttled.headers['set-cookie'], undefined);
    clock.advance(1000);
    assert.equal((await signIn('alice')).headers['retry-after'], '1');

    // After the delay the right password works, and clears the name's count (not the address's).
    clock.advance(1000);
    assert.equal((await signIn('alice')).status, 201);
    assert.equal((await signIn('bob', 'another guess')).status, 401);
    const byAddress = await signIn('bob');
    assert.equal(byAddress.status, 429);
    assert.equal(byAddress.headers['retry-after'], '4', 'the sixth failure from this address doubles the delay');
    clock.advance(4000);
    assert.equal((await signIn('bob')).status, 201);

    const audit = (await t.call('GET', '/api/v1/audit?action=session.sign_in_throttled')).json();
    const seen = audit.items.map((e: { targetId: string; details: { by: string; retryAfterSeconds: number } }) => `${e.targetId} ${e.details.by} ${e.details.retryAfterSeconds}`).reverse();
    assert.deepEqual(seen, ['alice username 2', 'alice username 1', 'bob address 4']);
    assert.ok(!JSON.stringify(audit).includes(PASSWORD) && !JSON.stringify(audit).includes('guess'), 'a password reached the audit log');
  });
});

describe('web UI files at /', () => {
  let t: TestService;
  before(async () => {
    const root = tempDir('provisio-web-');
    mkdirSync(join(root, 'assets'));
    writeFileSync(join(root, 'index.html'), '<!doctype html><title>Provisio</title><script type="module" src="/assets/index-abc123.js"></script>');
    writeFileSync(join(root, 'assets', 'index-abc123.js'), 'console.log(1)');
    t = await startTestService({ webRoot: root });
  });
  after(() => t.close());

  it('ok/index-and-client-routes-get-the-page-with-a-strict-csp', async () => {
    for (const path of ['/', '/devices', '/devices/DEV-1?state=pending']) {
      const r = await t.call('GET', path, { token: null });
      assert.equal(r.status, 200, path);
      assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
      assert.match(r.body.toString(), /<title>Provisio<\/title>/);
      assert.equal(r.headers['cache-control'], 'no-cache');
      assert.match(String(r.headers['content-security-policy']), /default-src 'none'; script-src 'self'/);
      assert.equal(r.headers['x-frame-options'], 'DENY');
    }
  });

  it('ok/hsts-on-the-ui-by-name-not-by-ip-address-or-localhost', async () => {
    // Reached by a name (the certificate is still checked, for the name it carries).
    const hsts = await new Promise<string | string[] | undefined>((resolve, reject) => {
      const req = httpsRequest(`${t.service.url}/`, {
        ca: t.rootPem, agent: false, headers: { host: 'provisio.example:8443' }, checkServerIdentity: (_host, cert) => checkServerIdentity('localhost', cert),
      }, (res) => {
        res.resume();
        resolve(res.headers['strict-transport-security']);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(hsts, 'max-age=31536000');
    for (const host of [undefined, 'localhost:8443', '[::1]:8443']) {
      const r = await t.call('GET', '/devices', { token: null, ...(host ? { headers: { host } } : {}) });
      assert.equal(r.status, 200);
      assert.equal(r.headers['strict-transport-security'], undefined, host ?? 'the loopback address');
    }
  });

  it('ok/openapi/lists-the-session-routes', async () => {
    const doc = (await t.call('GET', '/openapi.json', { token: null })).json();
    const session = doc.paths['/api/v1/session'];
    assert.deepEqual([session.post.operationId, session.get.operationId, session.delete.operationId], ['signIn', 'getSession', 'signOut']);
    assert.deepEqual(session.post.security, []);
    assert.deepEqual(session.post.requestBody.content['application/json'].schema.required, ['username', 'password']);
    assert.ok(doc.paths['/api/v1/devices'].get, 'the route table is still there');
  });

  it('ok/hashed-assets-are-cached-for-a-year-with-their-type', async () => {
    const r = await t.call('GET', '/assets/index-abc123.js', { token: null });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(r.headers['cache-control'], 'public, max-age=31536000, immutable');
  });

  it('fail/missing-asset-api-path-and-traversal-are-not-the-page', async () => {
    assert.equal((await t.call('GET', '/assets/gone-000.js', { token: null })).status, 404);
    const api = await t.call('GET', '/api/v1/nothing', { token: null });
    assert.equal(api.status, 404);
    assert.equal(api.json().error.code, 'route_not_found');
    const climb = await t.call('GET', '/%2e%2e/%2e%2e/etc/passwd', { token: null });
    assert.ok(!climb.body.toString().includes('root:'), 'a file outside the web root was served');
  });
});
