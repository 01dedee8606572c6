/**
 * Test helpers for proxy gateways: register one through the admin API (key made here, as
 * "provisio gateway create" makes it), and a mutual-TLS client that is the gateway.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { GATEWAY_FILES, httpsTransport } from '@provisio/device';
import { createCsr, createKeySigner, encodePem, exportPrivateKeyPem, generateKey } from '@provisio/pki';
import { tempDir } from '@provisio/testkit';
import type { TestService } from './service-harness.js';

export interface GatewayFiles {
  readonly dir: string;
  readonly keyPem: string;
  /** Gateway certificate then issuing CA (PEM). */
  readonly chainPem: string;
}

export async function registerGateway(t: TestService, name: string, hosts: string[] = ['127.0.0.1', 'localhost']): Promise<GatewayFiles> {
  const key = await generateKey('p256');
  const csr = await createCsr(createKeySigner(key.privateKey), { subject: [{ type: 'CN', value: name }] });
  const r = await t.call('POST', '/api/v1/gateways', { json: { name, hosts, csr: encodePem('CERTIFICATE REQUEST', csr) } });
  if (r.status !== 201) throw new Error(`gateway: ${r.status} ${r.body}`);
  const body = r.json<{ certificate: string; chain: string; root: string }>();
  const dir = join(tempDir('provisio-gw-'), 'gateway');
  mkdirSync(dir, { mode: 0o700 });
  const keyPem = exportPrivateKeyPem(key.privateKey);
  writeFileSync(join(dir, GATEWAY_FILES.key), keyPem, { mode: 0o600 });
  writeFileSync(join(dir, GATEWAY_FILES.certificate), body.certificate);
  writeFileSync(join(dir, GATEWAY_FILES.chain), body.chain);
  writeFileSync(join(dir, GATEWAY_FILES.root), body.root);
  return { dir, keyPem, chainPem: body.certificate + body.chain };
}

/** POSTs JSON to the service as the holder of `client` (key + chain PEM) over mutual TLS. */
export async function postAs(t: TestService, client: { keyPem: string | Buffer; chainPem: string | Buffer } | null, path: string, json: unknown) {
  const transport = httpsTransport(t.rootPem, client ? { clientKey: client.keyPem, clientCertificate: client.chainPem } : {});
  try {
    const reply = await transport.request('POST', `${t.service.url}${path}`, { bytes: Buffer.from(JSON.stringify(json)), contentType: 'application/json' });
    return { status: reply.status, headers: reply.headers, body: reply.body, json: <T = Record<string, any>>() => JSON.parse(reply.body.toString('utf8')) as T }; // eslint-disable-line @typescript-eslint/no-explicit-any -- test replies are read loosely
  } finally {
    transport.close();
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` every 20 ms until it returns true (at most `tries` times). */
export async function until(check: () => boolean | Promise<boolean>, what: string, tries = 1500): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await sleep(20);
  }
  throw new Error(`gave up waiting: ${what}`);
}
