/**
 * Relying parties that check the whole chain (decision D31), against the real service started
 * with a CA from the ceremony: `openssl verify -crl_check_all` and Debian's nginx with
 * `ssl_verify_client on` and `ssl_crl`, both fed the root CRL and the issuing CRL fetched from
 * the URLs the certificates name. A good device passes; a revoked device is refused (issuing
 * CRL); once the root revokes the intermediate (`ca root-crl --revoke`, the new file copied into
 * the CA directory), every device under it is refused (root CRL).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createKeySigner, exportPrivateKeyPem, generateKey } from '@provisio/pki';
import { openssl, tempDir } from '@provisio/testkit';
import { REQUEST_MEDIA, type TestService, makeRequest, setUpSystem, startTestService } from '../../server/test/service-harness.js';
import { provisio, ROOT_ENV, transcript } from './run-cli.js';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function httpGet(url: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

function cli(args: string[]): void {
  const r = provisio(args, { env: ROOT_ENV });
  assert.equal(r.status, 0, `provisio ${args.join(' ')}\n${transcript(r)}`);
}

/** The CRL distribution point a certificate names. */
function crlUrlOf(certPath: string): string {
  const text = openssl(['x509', '-in', certPath, '-noout', '-text']).stdout;
  const url = /CRL Distribution Points:\s*\n\s*Full Name:\s*\n\s*URI:(\S+)/.exec(text)?.[1];
  assert.ok(url, text);
  return url;
}

interface Device {
  readonly id: string;
  readonly certPath: string;
  readonly certPem: string;
  readonly keyPem: string;
}

/** nginx as a relying party: a child process (not a daemon) with its own prefix in `dir`. */
interface Nginx {
  readonly port: number;
  stop(): Promise<void>;
}

const NGINX_ENV = { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` };

async function startNginx(dir: string, files: { serverCert: string; serverKey: string; clientCas: string; crl: string }): Promise<Nginx> {
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  const errorLog = join(dir, 'error.log');
  writeFileSync(
    conf,
    [
      'daemon off;',
      'worker_processes 1;',
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${errorLog} info;`,
      'events { worker_connections 64; }',
      'http {',
      `  access_log ${join(dir, 'access.log')};`,
      `  client_body_temp_path ${join(dir, 'client_body')};`,
      `  proxy_temp_path ${join(dir, 'proxy')};`,
      `  fastcgi_temp_path ${join(dir, 'fastcgi')};`,
      `  uwsgi_temp_path ${join(dir, 'uwsgi')};`,
      `  scgi_temp_path ${join(dir, 'scgi')};`,
      '  server {',
      `    listen 127.0.0.1:${port} ssl;`,
      `    ssl_certificate ${files.serverCert};`,
      `    ssl_certificate_key ${files.serverKey};`,
      '    ssl_verify_client on;',
      `    ssl_client_certificate ${files.clientCas};`,
      `    ssl_crl ${files.crl};`,
      '    ssl_verify_depth 2;',
      '    location / { return 200 "hello $ssl_client_s_dn\\n"; }',
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('nginx', ['-p', dir, '-c', conf, '-e', errorLog], { stdio: ['ignore', 'pipe', 'pipe'], env: NGINX_ENV });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Ready when it accepts a connection; an nginx that exits (a bad config) fails at once.
  for (let attempt = 0; ; attempt++) {
    if (child.exitCode !== null) throw new Error(`nginx exited ${child.exitCode}:\n${output}\n${readFileSync(errorLog, 'utf8')}`);
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (up) break;
    if (attempt > 400) throw new Error(`nginx does not listen on ${port}:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return {
    port,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

describe('relying parties that check the whole chain: openssl -crl_check_all and nginx ssl_crl', () => {
  const dir = tempDir('provisio-root-crl-');
  const rootDir = join(dir, 'root');
  const caDir = join(dir, 'ca');
  const rootCrt = join(caDir, 'root.crt');
  const intermediateCrt = join(caDir, 'intermediate.crt');
  let publishPort: number;
  let t: TestService;
  let good: Device;
  let bad: Device;
  let intermediateSerial: string;
  let nginx: Nginx | null = null;
  let nginxRun = 0;
  const serverCert = join(dir, 'nginx-server.crt');
  const serverKey = join(dir, 'nginx-server.key');

  before(async () => {
    // The ceremony, with the URL where the service will publish the root CRL.
    publishPort = await freePort();
    cli(['ca', 'init-root', '--out', rootDir, '--name', 'Hospital Root CA']);
    assert.equal(provisio(['ca', 'new-intermediate', '--out', caDir]).status, 0);
    const sign = provisio(
      ['ca', 'sign-intermediate', '--root', rootDir, '--csr', join(caDir, 'intermediate.csr'), '--out', intermediateCrt, '--crl-url', `http://127.0.0.1:${publishPort}/crl/root.crl`, '--json'],
      { env: ROOT_ENV },
    );
    assert.equal(sign.status, 0, transcript(sign));
    intermediateSerial = JSON.parse(sign.stdout).serial;
    copyFileSync(join(rootDir, 'root.crt'), rootCrt);

    t = await startTestService({ caDir, serve: { publishListen: { host: '127.0.0.1', port: publishPort } } });
    const { packageText } = await setUpSystem(t);
    const provision = async (id: string): Promise<Device> => {
      const key = await generateKey('p256');
      const { text } = await makeRequest(packageText, id, { deviceKey: createKeySigner(key.privateKey) });
      const submitted = await t.call('POST', '/api/v1/requests', { raw: Buffer.from(text), contentType: REQUEST_MEDIA });
      const approved = await t.call('POST', `/api/v1/requests/${submitted.json().request.id}/approve`);
      assert.equal(approved.status, 200, approved.body.toString());
      const certPem = approved.json().certificate.pem as string;
      const certPath = join(dir, `${id}.crt`);
      writeFileSync(certPath, certPem);
      return { id, certPath, certPem, keyPem: exportPrivateKeyPem(key.privateKey) };
    };
    good = await provision('GOOD-1');
    bad = await provision('BAD-1');

    const made = openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=relying party', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '2', '-keyout', serverKey, '-out', serverCert]);
    assert.equal(made.status, 0, made.output);
  });
  after(async () => {
    await nginx?.stop();
    await t?.close();
  });

  /** Both CRLs, fetched from the URLs the intermediate and the device certificate name, as PEM. */
  async function fetchCrls(tag: string): Promise<{ root: string; issuing: string; both: string; rootNumber: string }> {
    const paths = { root: join(dir, `root-${tag}.pem`), issuing: join(dir, `issuing-${tag}.pem`), both: join(dir, `crls-${tag}.pem`), rootNumber: '' };
    for (const [which, url] of [['root', crlUrlOf(intermediateCrt)], ['issuing', crlUrlOf(good.certPath)]] as const) {
      const r = await httpGet(url);
      assert.equal(r.status, 200, `${url}: ${r.body.toString()}`);
      const der = join(dir, `${which}-${tag}.crl`);
      writeFileSync(der, r.body);
      const pem = openssl(['crl', '-inform', 'DER', '-in', der, '-out', paths[which]]);
      assert.equal(pem.status, 0, pem.output);
    }
    assert.match(openssl(['crl', '-in', paths.root, '-CAfile', rootCrt, '-noout', '-verify']).output, /verify OK/);
    assert.match(openssl(['crl', '-in', paths.issuing, '-CAfile', intermediateCrt, '-noout', '-verify']).output, /verify OK/);
    writeFileSync(paths.both, readFileSync(paths.root, 'utf8') + readFileSync(paths.issuing, 'utf8'));
    paths.rootNumber = /X509v3 CRL Number:\s*\n\s*(\d+)/.exec(openssl(['crl', '-in', paths.root, '-noout', '-text']).stdout)?.[1] ?? '';
    return paths;
  }

  const verify = (crls: { root: string; issuing: string }, device: Device) =>
    openssl(['verify', '-crl_check_all', '-CAfile', rootCrt, '-untrusted', intermediateCrt, '-CRLfile', crls.root, '-CRLfile', crls.issuing, device.certPath]);

  /** nginx with these CRLs; it reads ssl_crl only at start, so each set of CRLs gets a fresh one. */
  async function nginxWith(crls: string): Promise<Nginx> {
    await nginx?.stop();
    const prefix = join(dir, `nginx-${++nginxRun}`);
    const clientCas = join(dir, 'client-cas.pem');
    writeFileSync(clientCas, readFileSync(rootCrt, 'utf8') + readFileSync(intermediateCrt, 'utf8'));
    mkdirSync(prefix, { recursive: true });
    nginx = await startNginx(prefix, { serverCert, serverKey, clientCas, crl: crls });
    return nginx;
  }

  function ask(server: Nginx, device: Device): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port: server.port, path: '/', cert: device.certPem, key: device.keyPem, ca: readFileSync(serverCert, 'utf8'), agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('ok/good-devices-accepted-with-both-crls', async () => {
    assert.equal(crlUrlOf(intermediateCrt), `${t.service.publishUrl}/crl/root.crl`);
    const crls = await fetchCrls('start');
    assert.equal(crls.rootNumber, '1', 'the root CRL sign-intermediate wrote, copied beside the intermediate');
    for (const device of [good, bad]) assert.match(verify(crls, device).output, /: OK/);
    const server = await nginxWith(crls.both);
    for (const device of [good, bad]) {
      const r = await ask(server, device);
      assert.equal(r.status, 200, r.body);
      assert.match(r.body, new RegExp(`hello .*CN=${device.id}`));
    }
  });

  it('fail/revoked-device-refused-by-openssl-and-nginx', async () => {
    const revoked = await t.call('POST', `/api/v1/devices/${bad.id}/revoke`, { json: { reason: 'keyCompromise' } });
    assert.equal(revoked.status, 200, revoked.body.toString());
    const crls = await fetchCrls('device-revoked');
    const refused = verify(crls, bad);
    assert.notEqual(refused.status, 0);
    assert.match(refused.output, /certificate revoked/);
    assert.match(verify(crls, good).output, /: OK/);

    const server = await nginxWith(crls.both);
    const r = await ask(server, bad);
    assert.equal(r.status, 400);
    assert.match(r.body, /The SSL certificate error/);
    assert.equal((await ask(server, good)).status, 200);
  });

  it('fail/revoked-intermediate-refuses-every-device-under-it', async () => {
    // At the ceremony: the root revokes the intermediate; the new root CRL replaces the old one
    // in the CA directory (the service reads it again, no restart).
    const next = join(caDir, 'root.crl.new');
    cli(['ca', 'root-crl', '--root', rootDir, '--out', next, '--revoke', intermediateSerial, '--reason', 'cACompromise']);
    renameSync(next, join(caDir, 'root.crl'));
    const crls = await fetchCrls('intermediate-revoked');
    assert.equal(crls.rootNumber, '2');
    const refused = verify(crls, good);
    assert.notEqual(refused.status, 0);
    assert.match(refused.output, /error 23 at 1 depth lookup: certificate revoked/);

    const server = await nginxWith(crls.both);
    const r = await ask(server, good);
    assert.equal(r.status, 400);
    assert.match(r.body, /The SSL certificate error/);
  });

  it('fail/root-crl-file-replaced-by-a-foreign-or-older-crl-keeps-the-newest-published', async () => {
    const published = async () => {
      const r = await t.call('GET', '/crl/root.crl.pem', { token: null });
      assert.equal(r.status, 200);
      writeFileSync(join(dir, 'published.pem'), r.body);
      return /X509v3 CRL Number:\s*\n\s*(\d+)/.exec(openssl(['crl', '-in', join(dir, 'published.pem'), '-noout', '-text']).stdout)?.[1];
    };
    assert.equal(await published(), '2');
    // The issuing CA's CRL is not the root's; an older root CRL put back would un-revoke.
    for (const wrong of [join(dir, 'issuing-start.pem'), join(dir, 'root-start.pem')]) {
      copyFileSync(wrong, join(caDir, 'root.crl.new'));
      renameSync(join(caDir, 'root.crl.new'), join(caDir, 'root.crl'));
      assert.equal(await published(), '2', wrong);
    }
  });

  it('fail/serve-refuses-a-root-crl-the-root-did-not-sign-and-says-when-there-is-none', async () => {
    const copy = (name: string, withCrl: string | null) => {
      const target = join(dir, name);
      mkdirSync(target);
      for (const f of ['root.crt', 'intermediate.crt', 'intermediate.key']) copyFileSync(join(caDir, f), join(target, f));
      if (withCrl) copyFileSync(withCrl, join(target, 'root.crl'));
      return target;
    };
    await assert.rejects(
      startTestService({ caDir: copy('ca-foreign-crl', join(dir, 'issuing-start.pem')) }),
      /root\.crl is not a CRL signed by the root "CN=Hospital Root CA" \(the CRL was issued by "CN=Provisio Issuing CA"/,
    );
    const lines: string[] = [];
    const bare = await startTestService({ caDir: copy('ca-no-crl', null), serve: { log: (line) => lines.push(line) } });
    try {
      assert.ok(lines.some((l) => /no root CRL in .*ca-no-crl\/root\.crl: \/crl\/root\.crl answers 404/.test(l)), lines.join('\n'));
      const r = await bare.call('GET', '/crl/root.crl', { token: null });
      assert.equal(r.status, 404);
      assert.match(r.body.toString(), /no root CRL yet: sign one at the ceremony/);
    } finally {
      await bare.close();
    }
  });
});
