/**
 * Proxy gateways (docs/proxy.md): `gateway create|list|revoke` talk to the service with an admin
 * token; `proxy run` runs a gateway in the foreground until SIGINT or SIGTERM.
 */
import { join } from 'node:path';
import { GATEWAY_FILES, startGateway } from '@provisio/device';
import { createCsr, createKeySigner, encodePem, exportPrivateKeyPem, generateKey } from '@provisio/pki';
import { type ParsedArgs, optionalString, requireString } from '../args.js';
import { CONNECTION_OPTIONS, connect } from '../api-client.js';
import { COMMON_OPTIONS, type CommandSpec, printJson } from '../command.js';
import { EXIT, usageError } from '../errors.js';
import { PUBLIC_MODE, SECRET_MODE, assertAbsent, ensureDirectory, writeFileAtomic } from '../files.js';
import { GATEWAY_CREATE, GATEWAY_LIST, GATEWAY_REVOKE, PROXY_RUN } from '../help-service.js';
import type { CliDeps } from '../io.js';

type GatewayView = { name: string; hosts: string[]; status: string; certificateSerial: string; createdAt: string; revokedAt: string | null };

function name(args: ParsedArgs, command: string): string {
  const value = args.positionals[0];
  if (!value) throw usageError(`"provisio ${command}" needs a gateway NAME`, `run "provisio ${command} --help" for usage`);
  return value;
}

/** Every --host given (repeatable). */
function hosts(args: ParsedArgs): string[] {
  const raw = args.values.host;
  const list = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).map(String);
  if (list.length === 0) throw usageError('"provisio gateway create" needs --host H (the name or address devices reach the gateway by; repeat for more)');
  return list;
}

async function gatewayCreate(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const gateway = name(args, 'gateway create');
  const dir = requireString(args, 'dir', 'gateway create');
  const hostList = hosts(args);
  const api = connect(deps, args);
  for (const f of Object.values(GATEWAY_FILES)) assertAbsent(join(dir, f));
  // The key is made here and never sent: the service certifies it from the CSR.
  const key = await generateKey('p256');
  const csr = await createCsr(createKeySigner(key.privateKey), { subject: [{ type: 'CN', value: gateway }] });
  const r = await api.json<{ gateway: GatewayView; certificate: string; chain: string; root: string }>('POST', '/api/v1/gateways', {
    json: { name: gateway, hosts: hostList, csr: encodePem('CERTIFICATE REQUEST', csr) },
  });
  ensureDirectory(dir);
  writeFileAtomic(join(dir, GATEWAY_FILES.key), exportPrivateKeyPem(key.privateKey), SECRET_MODE);
  writeFileAtomic(join(dir, GATEWAY_FILES.certificate), r.certificate, PUBLIC_MODE);
  writeFileAtomic(join(dir, GATEWAY_FILES.chain), r.chain, PUBLIC_MODE);
  writeFileAtomic(join(dir, GATEWAY_FILES.root), r.root, PUBLIC_MODE);
  if (args.values.json === true) printJson(deps, { gateway: r.gateway, dir });
  else {
    deps.stdout.write(
      `✔ Gateway "${gateway}" for ${r.gateway.hosts.join(', ')} (certificate serial ${r.gateway.certificateSerial})\n` +
      `  ${join(dir, GATEWAY_FILES.key)} (mode 0600), ${GATEWAY_FILES.certificate}, ${GATEWAY_FILES.chain}, ${GATEWAY_FILES.root}\n` +
      `Next: provisio proxy run --upstream ${api.url} --listen ${hostList[0]}:8444 --dir ${dir}\n`,
    );
  }
  return EXIT.ok;
}

async function gatewayList(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const { items } = await connect(deps, args).json<{ items: GatewayView[] }>('GET', '/api/v1/gateways');
  if (args.values.json === true) printJson(deps, items);
  else {
    const rows = [['NAME', 'STATUS', 'HOSTS', 'SERIAL'], ...items.map((g) => [g.name, g.status, g.hosts.join(','), g.certificateSerial])];
    const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
    deps.stdout.write(rows.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')).join('\n') + '\n');
  }
  return EXIT.ok;
}

async function gatewayRevoke(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const gateway = name(args, 'gateway revoke');
  const reason = optionalString(args, 'reason');
  const g = await connect(deps, args).json<GatewayView>('POST', `/api/v1/gateways/${encodeURIComponent(gateway)}/revoke`, reason === undefined ? undefined : { json: { reason } });
  if (args.values.json === true) printJson(deps, g);
  else deps.stdout.write(`✔ Gateway "${gateway}" revoked at ${g.revokedAt ?? '?'}: its certificate ${g.certificateSerial} is revoked (${reason ?? 'cessationOfOperation'}); the service, OCSP and the CRL refuse it from now on\n`);
  return EXIT.ok;
}

function listenAddress(text: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[^:]+):(\d{1,5})$/.exec(text);
  const port = Number(m?.[2]);
  if (!m || port > 65535) throw usageError(`--listen must be HOST:PORT (e.g. 0.0.0.0:8444); got "${text}"`);
  return { host: (m[1] as string).replace(/^\[|\]$/g, ''), port };
}

async function proxyRun(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const upstream = requireString(args, 'upstream', 'proxy run');
  const dir = requireString(args, 'dir', 'proxy run');
  const { host, port } = listenAddress(requireString(args, 'listen', 'proxy run'));
  if (!/^https:\/\//.test(upstream)) throw usageError(`--upstream must be the service's https:// URL; got "${upstream}"`);
  const say = (line: string) => deps.stderr.write(`provisio: ${line}\n`);
  const gateway = await startGateway({
    dir,
    upstream,
    host,
    port,
    clock: deps.clock,
    random: deps.random,
    onEvent: (e) => {
      if (e.step === 'received') say(`queued ${e.id.slice(0, 19)}…`);
      else if (e.step === 'forwarded') say(`forwarded: ${e.accepted} accepted, ${e.refused} refused by the service`);
      else if (e.step === 'profiles') say(`profiles: ${e.approved} approved, ${e.refused} refused, ${e.pending} still pending`);
      else if (e.step === 'upstream-down') say(`the service is unreachable or did not take the batch (${e.reason}); retrying in ${(e.retryInMs / 1000).toFixed(1)} s`);
      else say('the service is reachable again');
    },
  });
  const counts = gateway.queue.counts();
  deps.stdout.write(
    `✔ Gateway serving ${gateway.url} for devices; forwarding to ${upstream}\n` +
    `  queue ${gateway.queue.dir}: ${counts.queued} queued, ${counts.pending} pending, ${counts.approved} approved, ${counts.refused} refused\n` +
    `Devices use ${gateway.url} as their service URL. Stop with Ctrl-C.\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await gateway.close();
  say('gateway stopped; the queue is kept');
  return EXIT.ok;
}

const str = { type: 'string' } as const;

export const GATEWAY_COMMANDS: readonly CommandSpec[] = [
  { path: 'gateway create', help: GATEWAY_CREATE, options: { ...COMMON_OPTIONS, ...CONNECTION_OPTIONS, host: { type: 'string', multiple: true }, dir: str }, maxPositionals: 1, run: gatewayCreate },
  { path: 'gateway list', help: GATEWAY_LIST, options: { ...COMMON_OPTIONS, ...CONNECTION_OPTIONS }, maxPositionals: 0, run: gatewayList },
  { path: 'gateway revoke', help: GATEWAY_REVOKE, options: { ...COMMON_OPTIONS, ...CONNECTION_OPTIONS, reason: { type: 'string' } }, maxPositionals: 1, run: gatewayRevoke },
  { path: 'proxy run', help: PROXY_RUN, options: { ...COMMON_OPTIONS, upstream: str, listen: str, dir: str }, maxPositionals: 0, run: proxyRun },
];
