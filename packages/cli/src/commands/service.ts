/**
 * Commands that talk to a running provisioning service: systems, components, packages, requests,
 * profiles, devices (server side), audit, users. Each is parse → one API call → render; the rules
 * live in the service.
 */
import { basename, join } from 'node:path';
import { type Catalog, ProvisioError, encodePem, parseCrl, pkiErrors } from '@provisio/pki';
import { BUNDLE_FILE_EXTENSION, BUNDLE_MEDIA_TYPE, MAX_BUNDLE_BYTES, parseBundle, protocolErrors } from '@provisio/protocol';
import { MAX_APPROVE_MANY, serverErrors } from '@provisio/server';
import { type ParsedArgs, optionalString, requireString } from '../args.js';
import { type ApiClient, CONNECTION_OPTIONS, ServiceResponseError, connect, query } from '../api-client.js';
import { COMMON_OPTIONS, type CommandSpec, printJson } from '../command.js';
import { printError } from '../diagnostics.js';
import { EXIT, exitCodeFor, usageError } from '../errors.js';
import { assertAbsent, ensureDirectory, readInputFile, writeFileAtomic } from '../files.js';
import * as HELP from '../help-service.js';
import type { CliDeps } from '../io.js';
import { styleFor } from '../io.js';

type Json = Record<string, unknown>;
const REQUEST_MEDIA = 'application/vnd.provisio.request+json';
/** A bundle of 10,000 requests is checked entry by entry before the service answers. */
const BUNDLE_TIMEOUT_MS = 10 * 60_000;
const KNOWN_CODES: Catalog = { ...pkiErrors, ...protocolErrors, ...serverErrors };

/** An error the service reported for one bundle entry, with the category of its code. */
function entryError(error: { code: string; message: string }): ProvisioError {
  return new ProvisioError(error.code, KNOWN_CODES[error.code]?.category ?? 'invalid', error.message);
}

function positional(args: ParsedArgs, index: number, what: string, command: string): string {
  const value = args.positionals[index];
  if (!value) throw usageError(`"provisio ${command}" needs ${what}`, `run "provisio ${command} --help" for usage`);
  return value;
}

function integerFlag(args: ParsedArgs, flag: string): number | undefined {
  const raw = optionalString(args, flag);
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw)) throw usageError(`--${flag} must be a whole number; got "${raw}"`);
  return Number(raw);
}

const enc = encodeURIComponent;

function out(deps: CliDeps, args: ParsedArgs, value: unknown, text: () => string): number {
  if (args.values.json === true) printJson(deps, value);
  else deps.stdout.write(text());
  return EXIT.ok;
}

function table(rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) return '';
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return `${rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')).join('\n')}\n`;
}

type Handler = (deps: CliDeps, args: ParsedArgs, api: ApiClient) => Promise<number>;

function remote(path: string, help: string, options: CommandSpec['options'], maxPositionals: number, handler: Handler): CommandSpec {
  return {
    path,
    help,
    options: { ...COMMON_OPTIONS, ...CONNECTION_OPTIONS, ...options },
    maxPositionals,
    run: (deps, args) => handler(deps, args, connect(deps, args)),
  };
}

/** `--FLAG on|off` as a boolean; undefined when the flag is not given. */
function onOffFlag(args: ParsedArgs, flag: string, command: string): boolean | undefined {
  const value = optionalString(args, flag);
  if (value === undefined) return undefined;
  if (value !== 'on' && value !== 'off') throw usageError(`--${flag} takes on or off; got "${value}"`, `provisio ${command} NAME --${flag} off`);
  return value === 'on';
}

const separationFlag = (args: ParsedArgs, command: string) => onOffFlag(args, 'separation-of-duties', command);
const secretApprovesFlag = (args: ParsedArgs, command: string) => onOffFlag(args, 'secret-approves', command);
const centralKeysFlag = (args: ParsedArgs, command: string) => onOffFlag(args, 'central-keys', command);

const systemCreate: Handler = async (deps, args, api) => {
  const name = positional(args, 0, 'a system NAME', 'system create');
  const separationOfDuties = separationFlag(args, 'system create');
  const enrollmentSecretApproves = secretApprovesFlag(args, 'system create');
  const centralKeyGeneration = centralKeysFlag(args, 'system create');
  const system = await api.json<Json>('POST', '/api/v1/systems', {
    json: {
      name,
      allowMock: args.values['no-mock'] !== true,
      ...(separationOfDuties !== undefined ? { separationOfDuties } : {}),
      ...(enrollmentSecretApproves !== undefined ? { enrollmentSecretApproves } : {}),
      ...(centralKeyGeneration !== undefined ? { centralKeyGeneration } : {}),
    },
  });
  return out(deps, args, system, () => `✔ System "${name}" created\nNext: provisio component create --system ${JSON.stringify(name)} NAME\n`);
};

const systemList: Handler = async (deps, args, api) => {
  const { items } = await api.json<{ items: Array<{ name: string; components: Array<{ name: string }> }> }>('GET', '/api/v1/systems');
  return out(deps, args, items, () => table([['SYSTEM', 'COMPONENTS'], ...items.map((s) => [s.name, s.components.map((c) => c.name).join(', ') || '-'])]));
};

const systemShow: Handler = async (deps, args, api) => {
  const name = positional(args, 0, 'a system NAME', 'system show');
  const s = await api.json<{ name: string; allowMock: boolean; separationOfDuties: boolean; enrollmentSecretApproves: boolean; components: Array<{ name: string; keyTypes: string[]; validityDays: number }> }>('GET', `/api/v1/systems/${enc(name)}`);
  return out(deps, args, s, () =>
    `system      ${s.name}\nmock files  ${s.allowMock ? 'allowed' : 'refused'}\nseparation of duties  ${s.separationOfDuties ? 'on (an uploader may not approve)' : 'off'}\n` +
    `token or pairing code approves  ${s.enrollmentSecretApproves ? 'on' : 'off (the approval policy decides)'}\n` +
    table([['COMPONENT', 'KEY TYPES', 'VALIDITY'], ...s.components.map((c) => [c.name, c.keyTypes.join(','), `${c.validityDays} d`])]),
  );
};

const systemUpdate: Handler = async (deps, args, api) => {
  const name = positional(args, 0, 'a system NAME', 'system update');
  const allow = args.values['allow-mock'] === true;
  const refuse = args.values['no-mock'] === true;
  if (allow && refuse) throw usageError('--allow-mock and --no-mock contradict each other: give one', `provisio system update ${name} --no-mock`);
  const separationOfDuties = separationFlag(args, 'system update');
  const enrollmentSecretApproves = secretApprovesFlag(args, 'system update');
  const centralKeyGeneration = centralKeysFlag(args, 'system update');
  if (!allow && !refuse && separationOfDuties === undefined && enrollmentSecretApproves === undefined && centralKeyGeneration === undefined) {
    throw usageError('say what to change: --allow-mock, --no-mock, --separation-of-duties, --secret-approves or --central-keys on|off', `provisio system update ${name} --no-mock`);
  }
  const body = {
    ...(allow || refuse ? { allowMock: allow } : {}),
    ...(separationOfDuties !== undefined ? { separationOfDuties } : {}),
    ...(enrollmentSecretApproves !== undefined ? { enrollmentSecretApproves } : {}),
    ...(centralKeyGeneration !== undefined ? { centralKeyGeneration } : {}),
  };
  const s = await api.json<Json & { allowMock: boolean; separationOfDuties: boolean; enrollmentSecretApproves: boolean; centralKeyGeneration: boolean }>('PATCH', `/api/v1/systems/${enc(name)}`, { json: body });
  const said = [
    ...(allow || refuse ? [`${s.allowMock ? 'accepts' : 'refuses'} mock device files`] : []),
    ...(separationOfDuties !== undefined ? [`keeps separation of duties ${s.separationOfDuties ? 'on' : 'off'}`] : []),
    ...(enrollmentSecretApproves !== undefined ? [s.enrollmentSecretApproves ? 'takes a valid enrollment token or pairing code as the approval' : 'has token and pairing-code enrollments approved by its approval policy'] : []),
    ...(centralKeyGeneration !== undefined ? [s.centralKeyGeneration ? 'generates device keys for pairings that ask (sent once, never stored)' : 'never generates device keys'] : []),
  ];
  return out(deps, args, s, () => `✔ System "${name}" ${said.join('; ')}\n`);
};

const componentCreate: Handler = async (deps, args, api) => {
  const system = requireString(args, 'system', 'component create');
  const name = positional(args, 0, 'a component NAME', 'component create');
  const keyTypes = optionalString(args, 'key-type')?.split(',').map((k) => k.trim());
  const validityDays = integerFlag(args, 'validity-days');
  const renewalGraceDays = integerFlag(args, 'renewal-grace-days');
  const body = { name, ...(keyTypes ? { keyTypes } : {}), ...(validityDays ? { validityDays } : {}), ...(renewalGraceDays !== undefined ? { renewalGraceDays } : {}) };
  const c = await api.json<Json>('POST', `/api/v1/systems/${enc(system)}/components`, { json: body });
  return out(deps, args, c, () => `✔ Component "${name}" created in system "${system}" (keys ${(c.keyTypes as string[]).join(', ')}, ${c.validityDays} d, renewal grace ${c.renewalGraceDays} d)\nNext: provisio package create --system ${JSON.stringify(system)} --out ${system}.ppkg\n`);
};

const componentUpdate: Handler = async (deps, args, api) => {
  const system = requireString(args, 'system', 'component update');
  const name = positional(args, 0, 'a component NAME', 'component update');
  const renewalGraceDays = integerFlag(args, 'renewal-grace-days');
  if (renewalGraceDays === undefined) throw usageError('component update needs --renewal-grace-days N', 'e.g. provisio component update --system S NAME --renewal-grace-days 7');
  const c = await api.json<Json>('POST', `/api/v1/systems/${enc(system)}/components/${enc(name)}`, { json: { renewalGraceDays } });
  return out(deps, args, c, () => `✔ Component "${name}" of system "${system}": renewal grace ${c.renewalGraceDays} d\n`);
};

const packageCreate: Handler = async (deps, args, api) => {
  const system = requireString(args, 'system', 'package create');
  const outPath = requireString(args, 'out', 'package create');
  assertAbsent(outPath);
  const days = integerFlag(args, 'days');
  const requestLifetimeSeconds = integerFlag(args, 'request-lifetime');
  const response = await api.send('POST', '/api/v1/packages', { json: { system, ...(days ? { days } : {}), ...(requestLifetimeSeconds ? { requestLifetimeSeconds } : {}) } });
  // The package holds the bootstrap private key: 0600, like every secret.
  writeFileAtomic(outPath, response.body, 0o600);
  const id = String(response.headers['x-package-id'] ?? '');
  return out(deps, args, { id, path: outPath, mode: '0600' }, () =>
    `✔ Provisioning package: ${outPath} (mode 0600, holds a bootstrap key)\n  id ${id}\nCopy it to the factory line; delete it from each device after "provisio device init".\n`,
  );
};

const packageList: Handler = async (deps, args, api) => {
  const { items } = await api.json<{ items: Array<{ id: string; system: string; status: string; expiresAt: string }> }>('GET', `/api/v1/packages${query({ system: optionalString(args, 'system') })}`);
  return out(deps, args, items, () => table([['ID', 'SYSTEM', 'STATUS', 'EXPIRES'], ...items.map((p) => [p.id, p.system, p.status, p.expiresAt])]));
};

const packageRevoke: Handler = async (deps, args, api) => {
  const id = positional(args, 0, 'a package ID', 'package revoke');
  const reason = optionalString(args, 'reason');
  const p = await api.json<Json>('POST', `/api/v1/packages/${enc(id)}/revoke`, { json: reason === undefined ? {} : { reason } });
  return out(deps, args, p, () => `✔ Package ${id} revoked: requests signed with it are refused from now on, and its bootstrap certificate is on the CRL\n`);
};

const requestUpload: Handler = async (deps, args, api) => {
  if (args.positionals.length === 0) throw usageError('"provisio request upload" needs one or more request FILEs');
  const results: Json[] = [];
  let exit: number = EXIT.ok;
  for (const file of args.positionals) {
    if (file.endsWith(BUNDLE_FILE_EXTENSION)) {
      const { result, exit: bundleExit } = await uploadBundle(deps, args, api, file);
      results.push(result);
      if (exit === EXIT.ok) exit = bundleExit;
      continue;
    }
    try {
      const bytes = readInputFile(file, 64 * 1024);
      const r = await api.json<{ created: boolean; request: Json }>('POST', '/api/v1/requests', { bytes, contentType: REQUEST_MEDIA });
      results.push({ file, ok: true, created: r.created, request: r.request });
      if (args.values.json !== true) {
        deps.stdout.write(`✔ ${basename(file)}: ${r.created ? 'accepted' : 'already uploaded'} as ${String(r.request.id)} (device ${String(r.request.deviceId)}, ${String(r.request.state)})\n`);
      }
    } catch (e) {
      if (!(e instanceof ServiceResponseError) && exitCodeFor(e) === EXIT.internal) throw e;
      const code = (e as { code?: string }).code ?? 'internal_error';
      results.push({ file, ok: false, error: { code, message: (e as Error).message } });
      if (args.values.json !== true) deps.stdout.write(`✘ ${basename(file)}: ${(e as Error).message} [${code}]\n`);
      else printError(deps, e);
      if (exit === EXIT.ok) exit = exitCodeFor(e);
    }
  }
  if (args.values.json === true) printJson(deps, results);
  else if (results.some((r) => r.ok)) deps.stdout.write('Next: an approver runs "provisio request approve ID" (or on the Devices page)\n');
  return exit;
};

type Verdict = { name: string; ok: boolean; created?: boolean; request?: Json; error?: { code: string; message: string } };

/** Uploads one request bundle and prints the service's verdict on each entry. */
async function uploadBundle(deps: CliDeps, args: ParsedArgs, api: ApiClient, file: string): Promise<{ result: Json; exit: number }> {
  const text = args.values.json !== true;
  try {
    const bytes = readInputFile(file, MAX_BUNDLE_BYTES);
    const r = await api.json<{ bundle: { sha256: string; packageId: string; entries: number }; created: number; duplicate: number; refused: number; entries: Verdict[] }>(
      'POST',
      '/api/v1/requests',
      { bytes, contentType: BUNDLE_MEDIA_TYPE },
      { timeoutMs: BUNDLE_TIMEOUT_MS },
    );
    let exit: number = EXIT.ok;
    if (text) deps.stdout.write(`${basename(file)}: ${r.bundle.entries} entries (package ${r.bundle.packageId}): ${r.created} accepted, ${r.duplicate} already uploaded, ${r.refused} refused
`);
    for (const v of r.entries) {
      if (v.ok) {
        if (text) deps.stdout.write(`  ✔ ${v.name}: ${v.created ? 'accepted' : 'already uploaded'} as ${String(v.request?.id)} (device ${String(v.request?.deviceId)}, ${String(v.request?.state)})\n`);
      } else {
        const error = v.error ?? { code: 'internal_error', message: 'no reason given' };
        if (text) deps.stdout.write(`  ✘ ${v.name}: ${error.message} [${error.code}]\n`);
        if (exit === EXIT.ok) exit = exitCodeFor(entryError(error));
      }
    }
    return { result: { file, ok: r.refused === 0, bundle: r.bundle, entries: r.entries }, exit };
  } catch (e) {
    if (!(e instanceof ServiceResponseError) && exitCodeFor(e) === EXIT.internal) throw e;
    const code = (e as { code?: string }).code ?? 'internal_error';
    if (text) deps.stdout.write(`✘ ${basename(file)}: ${(e as Error).message} [${code}] (nothing from this bundle was stored)\n`);
    else printError(deps, e);
    return { result: { file, ok: false, error: { code, message: (e as Error).message } }, exit: exitCodeFor(e) };
  }
}

const requestList: Handler = async (deps, args, api) => {
  const q = query({
    state: optionalString(args, 'state'),
    system: optionalString(args, 'system'),
    component: optionalString(args, 'component'),
    q: optionalString(args, 'q'),
    limit: integerFlag(args, 'limit'),
    offset: integerFlag(args, 'offset'),
  });
  const page = await api.json<{ total: number; items: Array<Record<string, string>> }>('GET', `/api/v1/requests${q}`);
  return out(deps, args, page, () =>
    table([['ID', 'STATE', 'DEVICE', 'SYSTEM/COMPONENT', 'KEY', 'CREATED'], ...page.items.map((r) => [r.id ?? '', r.state ?? '', r.deviceId ?? '', `${r.system}/${r.component}`, r.keyAlgorithm ?? '', r.createdAt ?? ''])]) +
    `${page.items.length} of ${page.total}\n`,
  );
};

const requestShow: Handler = async (deps, args, api) => {
  const id = positional(args, 0, 'a request ID', 'request show');
  const r = await api.json<Record<string, unknown>>('GET', `/api/v1/requests/${enc(id)}`);
  return out(deps, args, r, () => `${Object.entries(r).map(([k, v]) => `${k.padEnd(16)}${v === null ? '-' : String(v)}`).join('\n')}\n`);
};

const requestApprove: Handler = async (deps, args, api) => {
  const id = positional(args, 0, 'a request ID', 'request approve');
  if (args.positionals.length > 1) return approveMany(deps, args, api, args.positionals);
  const r = await api.json<{ request: Record<string, string>; certificate: Record<string, string> }>('POST', `/api/v1/requests/${enc(id)}/approve`);
  const style = styleFor(deps.stdout, deps.env);
  return out(deps, args, r, () =>
    `${style.ok('✔')} Approved ${id}: device ${r.request.deviceId} certificate serial ${r.certificate.serial}, valid until ${r.certificate.notAfter}\nNext: provisio profile download ${id} --out ${r.request.deviceId}.pcp\n`,
  );
};

/**
 * Many requests in one call: each is approved on its own (a refused one costs only itself), and
 * each verdict is printed; the exit code is the first refusal's, so a script notices.
 */
async function approveMany(deps: CliDeps, args: ParsedArgs, api: ApiClient, ids: readonly string[]): Promise<number> {
  type Item = { requestId: string; ok: true; request: Record<string, string>; certificate: { serial: string } } | { requestId: string; ok: false; code: string; message: string };
  const r = await api.json<{ approved: number; refused: number; items: Item[] }>('POST', '/api/v1/requests/approve', { json: { requestIds: [...new Set(ids)] } });
  const style = styleFor(deps.stdout, deps.env);
  out(deps, args, r, () =>
    r.items.map((i) => (i.ok
      ? `${style.ok('✔')} Approved ${i.requestId}: device ${i.request.deviceId} certificate serial ${i.certificate.serial}\n`
      : `${style.bad('✘')} Refused ${i.requestId}: ${i.message} [${i.code}]\n`)).join('')
    + `${r.approved} approved, ${r.refused} refused\n`,
  );
  const refused = r.items.find((i) => !i.ok);
  return refused && !refused.ok ? exitCodeFor(entryError(refused)) : EXIT.ok;
}

const requestReject: Handler = async (deps, args, api) => {
  const id = positional(args, 0, 'a request ID', 'request reject');
  const reason = requireString(args, 'reason', 'request reject');
  const r = await api.json<Json>('POST', `/api/v1/requests/${enc(id)}/reject`, { json: { reason } });
  return out(deps, args, r, () => `✔ Rejected ${id}: ${reason}\n`);
};

/** `profile download --bundle OUT`: the profiles of many requests as one signed bundle. */
async function profileBundleDownload(deps: CliDeps, args: ParsedArgs, api: ApiClient, outPath: string): Promise<number> {
  const requestBundlePath = optionalString(args, 'request-bundle');
  const requestIds = args.positionals;
  if (requestIds.length === 0 && requestBundlePath === undefined) {
    throw usageError('"provisio profile download --bundle OUT" needs request IDs or --request-bundle FILE', 'run "provisio profile download --help" for usage');
  }
  assertAbsent(outPath);
  let contentSha256: string[] = [];
  if (requestBundlePath !== undefined) {
    // The request bundle names its requests by the SHA-256 of each file: the service knows them by it.
    const requests = parseBundle(readInputFile(requestBundlePath, MAX_BUNDLE_BYTES));
    if (requests.manifest.type !== 'provisio.request-bundle') throw usageError(`${requestBundlePath} is a profile bundle; --request-bundle takes the request bundle you uploaded`);
    contentSha256 = requests.entries.map((e) => e.sha256);
  }
  type NotReady = { requestId: string | null; deviceId: string | null; state: string | null; code: string; message: string };
  const r = await api.json<{ bundle: string | null; included: Array<{ name: string; requestId: string; deviceId: string }>; notReady: NotReady[] }>(
    'POST',
    '/api/v1/profiles/bundle',
    { json: { ...(requestIds.length > 0 ? { requestIds } : {}), ...(contentSha256.length > 0 ? { contentSha256 } : {}) } },
    { timeoutMs: BUNDLE_TIMEOUT_MS },
  );
  if (r.bundle !== null) writeFileAtomic(outPath, r.bundle, 0o600);
  const exit = r.notReady.length > 0 ? EXIT.conflict : EXIT.ok;
  if (args.values.json === true) {
    printJson(deps, { path: r.bundle === null ? null : outPath, included: r.included, notReady: r.notReady });
    return exit;
  }
  const style = styleFor(deps.stdout, deps.env);
  if (r.bundle !== null) deps.stdout.write(`${style.ok('✔')} Profile bundle: ${outPath} (mode 0600, ${r.included.length} profile${r.included.length === 1 ? '' : 's'}, signed by the service)\n${r.included.map((i) => `  ${i.name}  ${i.requestId}\n`).join('')}`);
  else deps.stdout.write('✘ no profile is ready: nothing was written\n');
  if (r.notReady.length > 0) {
    deps.stdout.write(`Not ready (${r.notReady.length}):\n${r.notReady.map((n) => `  ✘ ${n.deviceId ?? n.requestId ?? '?'}: ${n.message} [${n.code}]\n`).join('')}`);
  }
  if (r.bundle !== null) deps.stdout.write(`Next: provisio bundle verify ${outPath} --package PACKAGE.ppkg, then provisio bundle extract ${outPath} --dir DIR --package PACKAGE.ppkg\n`);
  return exit;
}

const profileDownload: Handler = async (deps, args, api) => {
  const bundleOut = optionalString(args, 'bundle');
  if (bundleOut !== undefined) {
    if (optionalString(args, 'out') !== undefined) throw usageError('use --out for one profile or --bundle for many, not both');
    return profileBundleDownload(deps, args, api, bundleOut);
  }
  if (args.positionals.length > 1) throw usageError('"provisio profile download" takes one request ID; for many, use --bundle OUT');
  const id = positional(args, 0, 'a request ID', 'profile download');
  const outPath = requireString(args, 'out', 'profile download');
  assertAbsent(outPath);
  const response = await api.send('GET', `/api/v1/requests/${enc(id)}/profile`);
  writeFileAtomic(outPath, response.body, 0o600);
  return out(deps, args, { path: outPath, mode: '0600', bytes: response.body.length }, () =>
    `✔ Certified profile: ${outPath} (mode 0600)\nNext, on the device: provisio device install --dir KEYSTORE ${outPath}\n`,
  );
};

const deviceComplete: Handler = async (deps, args, api) => {
  const id = positional(args, 0, 'a DEVICE_ID', 'device complete');
  const d = await api.json<Json>('POST', `/api/v1/devices/${enc(id)}/complete`);
  return out(deps, args, d, () => `✔ Device ${id} is ${String(d.state)}\n`);
};

/**
 * Devices with their last check-in at the central station; or, with --expiring WINDOW, the device
 * certificates that expire within it; or, with --overdue, the devices past two thirds of their
 * certificate's lifetime (overdue for renewal).
 */
const deviceList: Handler = async (deps, args, api) => {
  const expiring = optionalString(args, 'expiring');
  const overdue = args.values.overdue === true;
  if (expiring !== undefined && overdue) throw usageError('use --expiring WINDOW or --overdue, not both');
  const paging = { limit: integerFlag(args, 'limit'), offset: integerFlag(args, 'offset') };
  if (expiring !== undefined || overdue) {
    const listFilters = ['state', 'system', 'component', 'transport', 'q'].some((f) => optionalString(args, f) !== undefined) || args.values['needs-approval'] === true;
    if (listFilters) {
      throw usageError('--state, --system, --component, --transport, --q and --needs-approval list devices; they do not combine with --expiring or --overdue');
    }
    const path = overdue ? `/api/v1/certificates/renewal-overdue${query(paging)}` : `/api/v1/certificates/expiring${query({ within: expiring, kind: 'device', ...paging })}`;
    const page = await api.json<{ total: number; items: Array<Record<string, string | null>> }>('GET', path);
    return out(deps, args, page, () =>
      table([['DEVICE', 'SERIAL', 'EXPIRES', 'RENEWAL DUE'], ...page.items.map((c) => [c.deviceId ?? '-', c.serial ?? '', c.notAfter ?? '', c.renewalDueAt ?? ''])]) +
      `${page.items.length} of ${page.total} ${overdue ? 'overdue for renewal (past two thirds of their lifetime)' : `expiring within ${expiring}`}\n`,
    );
  }
  // Devices waiting for a decision of any kind first, as on the Devices page.
  const needsApproval = args.values['needs-approval'] === true ? 'true' : undefined;
  const component = optionalString(args, 'component');
  if (component !== undefined && optionalString(args, 'system') === undefined) throw usageError('--component names a component of a system: pass --system too');
  const q = query({
    state: optionalString(args, 'state'), system: optionalString(args, 'system'), component, transport: optionalString(args, 'transport'), q: optionalString(args, 'q'),
    needsApproval, sort: 'pending-first', ...paging,
  });
  type Row = Record<string, string | null> & { reprovisionRequest?: ReprovisionRequestView | null; pendingRequest?: { id: string; kind: string } | null };
  const page = await api.json<{ total: number; items: Row[] }>('GET', `/api/v1/devices${q}`);
  return out(deps, args, page, () =>
    table([
      ['DEVICE', 'STATE', 'SYSTEM/COMPONENT', 'LAST SEEN', 'NEEDS APPROVAL', 'REPROVISION'],
      ...page.items.map((d) => [
        d.deviceId ?? '', d.state ?? '', `${d.system}/${d.component}`, d.lastSeenAt ?? 'never',
        d.pendingRequest ? `${d.pendingRequest.kind} ${d.pendingRequest.id}` : '-',
        d.reprovisionRequest ? `asked ${d.reprovisionRequest.requestedAt}` : '-',
      ]),
    ]) +
    `${page.items.length} of ${page.total}\n`,
  );
};

const deviceGet: Handler = async (deps, args, api) => {
  const id = positional(args, 0, 'a DEVICE_ID', 'device get');
  const d = await api.json<Json & { certificates: Array<Record<string, string>>; reprovisionRequest: ReprovisionRequestView | null }>('GET', `/api/v1/devices/${enc(id)}`);
  const ask = d.reprovisionRequest;
  return out(deps, args, d, () =>
    `device      ${String(d.deviceId)} (${String(d.label)})\nstate       ${String(d.state)}\nsystem      ${String(d.system)}/${String(d.component)}\n` +
    `last seen   ${d.lastSeenAt ? `${String(d.lastSeenAt)} (certificate ${String(d.lastSeenSerial)})` : 'never (no check-in at the central station)'}\n` +
    (ask ? `reprovision asked by ${ask.requestedBy} at ${ask.requestedAt}: ${ask.reason} (the device reprovisions at its next check-in)\n` : '') +
    d.certificates.map((c) => `certificate ${c.serial} ${c.status}, until ${c.notAfter}\n`).join(''),
  );
};

/**
 * Revocation is final, so it is confirmed: --yes, or the device id typed again on a terminal
 * (the web UI asks the same). Without a terminal and without --yes nothing is sent.
 */
async function confirmRevocation(deps: CliDeps, args: ParsedArgs, deviceId: string): Promise<void> {
  if (args.values.yes === true) return;
  if (!deps.terminal) {
    throw usageError(`revoking ${deviceId} is final and needs confirmation`, `add --yes to revoke without a prompt`);
  }
  const typed = (await deps.terminal.readSecret(`type the device id (${deviceId}) to revoke it: `)).trim();
  if (typed !== deviceId) throw usageError(`"${typed.slice(0, 80)}" is not ${deviceId}: nothing was revoked`);
}

const deviceRevoke: Handler = async (deps, args, api) => {
  const id = positional(args, 0, 'a DEVICE_ID', 'device revoke');
  const reason = requireString(args, 'reason', 'device revoke');
  await confirmRevocation(deps, args, id);
  const d = await api.json<Json & { changed: boolean; revoked: Array<{ serial: string }>; crlNumber: number | null }>(
    'POST',
    `/api/v1/devices/${enc(id)}/revoke`,
    { json: { reason } },
  );
  return out(deps, args, d, () =>
    d.changed
      ? `✔ Device ${id} revoked (${reason}): ${d.revoked.length === 0 ? 'it had no valid certificate' : `certificate ${d.revoked.map((c) => c.serial).join(', ')} revoked`}; CRL number ${String(d.crlNumber)} published\n` +
        (reason === 'keyCompromise' ? `Next: the device makes a new key ("provisio device init --reset") and a new request, which waits for an approver\n` : '')
      : `✔ Device ${id} was already revoked: nothing changed\n`,
  );
};

interface ReprovisionRequestView { requestedAt: string; requestedBy: string; reason: string }

const deviceRequestReprovision: Handler = async (deps, args, api) => {
  const cmd = 'device request-reprovision';
  const id = positional(args, 0, 'a DEVICE_ID', cmd);
  const cancel = args.values.cancel === true;
  const reason = optionalString(args, 'reason');
  if (cancel && reason !== undefined) throw usageError('--cancel withdraws the ask; it takes no --reason');
  if (!cancel && reason === undefined) throw usageError(`${cmd} needs --reason R (why the device is reprovisioned), or --cancel`, `provisio ${cmd} ${id} --reason "INC-4711: profile config changed"`);
  type Answer = Json & { changed: boolean; reprovisionRequest: ReprovisionRequestView | null };
  const d = cancel
    ? await api.json<Answer>('POST', `/api/v1/devices/${enc(id)}/reprovision/cancel`)
    : await api.json<Answer>('POST', `/api/v1/devices/${enc(id)}/reprovision`, { json: { reason } });
  const ask = d.reprovisionRequest;
  return out(deps, args, d, () => {
    if (cancel) return d.changed ? `✔ Reprovisioning of ${id} cancelled: nothing is asked of the device any more\n` : `✔ No reprovisioning was asked for ${id}: nothing changed\n`;
    const line = ask ? `asked by ${ask.requestedBy} at ${ask.requestedAt}: ${ask.reason}` : '';
    return d.changed
      ? `✔ Reprovisioning of ${id} ${line}\nNext: the device reprovisions at its next check-in at the central station (its request counts as approved by ${ask?.requestedBy ?? 'you'})\n`
      : `✔ A reprovisioning of ${id} was already ${line}; nothing changed\n`;
  });
};

const crlFetch: Handler = async (deps, args, api) => {
  const outPath = requireString(args, 'out', 'crl fetch');
  const response = await api.send('GET', '/crl/issuing.crl');
  const crl = parseCrl(response.body);
  const pem = args.values.pem === true;
  // A CRL is public: 0644.
  writeFileAtomic(outPath, pem ? encodePem('X509 CRL', crl.der) : crl.der, 0o644);
  const summary = {
    path: outPath,
    format: pem ? 'pem' : 'der',
    crlNumber: crl.crlNumber === null ? null : crl.crlNumber.toString(),
    thisUpdate: crl.thisUpdate.toISOString(),
    nextUpdate: crl.nextUpdate?.toISOString() ?? null,
    revoked: crl.entries.length,
  };
  return out(deps, args, summary, () =>
    `✔ CRL number ${summary.crlNumber ?? '-'}: ${outPath} (${summary.format.toUpperCase()}, ${summary.revoked} revoked)\n  this update  ${summary.thisUpdate}\n  next update  ${summary.nextUpdate ?? '-'}\n`,
  );
};

/** The audit filters `audit list` and `audit export` share with the Audit page (times as ISO 8601). */
function auditFilter(args: ParsedArgs): Record<string, string | undefined> {
  for (const f of ['since', 'until']) {
    const t = optionalString(args, f);
    if (t !== undefined && !RFC3339.test(t)) throw usageError(`--${f} must be a time like 2026-11-23T08:00:00Z (ISO 8601 with a zone); got "${t}"`);
  }
  return Object.fromEntries(Object.keys(AUDIT_FILTERS).map((f) => [f, optionalString(args, f)]));
}
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

const auditList: Handler = async (deps, args, api) => {
  const q = query({ ...auditFilter(args), limit: integerFlag(args, 'limit'), offset: integerFlag(args, 'offset') });
  const page = await api.json<{ total: number; items: Array<Record<string, unknown>> }>('GET', `/api/v1/audit${q}`);
  return out(deps, args, page, () => table([['SEQ', 'AT', 'ACTOR', 'ACTION', 'TARGET'], ...page.items.map((e) => [String(e.seq), String(e.at), String(e.actor), String(e.action), String(e.targetId)])]));
};

const auditExport: Handler = async (deps, args, api) => {
  const outPath = requireString(args, 'out', 'audit export');
  const checkpointsPath = optionalString(args, 'checkpoints');
  assertAbsent(outPath);
  if (checkpointsPath !== undefined) assertAbsent(checkpointsPath);
  // The checkpoints first: every one then covers an entry the export (read after) holds.
  const checkpoints = checkpointsPath === undefined ? null : (await api.send('GET', '/api/v1/audit/checkpoints', undefined, { timeoutMs: 120_000 })).body;
  const response = await api.send('GET', `/api/v1/audit/export${query({ ...auditFilter(args), limit: integerFlag(args, 'limit') })}`, undefined, { timeoutMs: 120_000 });
  // Audit entries hold no secrets, but who did what is for the people allowed to read it: 0600.
  writeFileAtomic(outPath, response.body, 0o600);
  if (checkpointsPath !== undefined && checkpoints) writeFileAtomic(checkpointsPath, checkpoints, 0o600);
  const entries = lineCount(response.body);
  const kept = checkpoints ? lineCount(checkpoints) : null;
  return out(deps, args, { path: outPath, mode: '0600', entries, ...(checkpointsPath !== undefined ? { checkpointsPath, checkpoints: kept } : {}) }, () =>
    `✔ ${entries} audit entr${entries === 1 ? 'y' : 'ies'} written to ${outPath} (JSON Lines, newest first)\n` +
    (checkpointsPath !== undefined ? `✔ ${kept} signed checkpoint${kept === 1 ? '' : 's'} written to ${checkpointsPath} (the service's checkpoint file)\n  verify offline: provisio audit verify --export ${outPath} --checkpoints ${checkpointsPath} --ca DIR\n` : ''));
};

function lineCount(body: Buffer): number {
  return body.toString('utf8').split('\n').filter((l) => l !== '').length;
}

export interface AuditReport {
  readonly ok: boolean;
  readonly count?: number;
  readonly lastSeq?: number;
  readonly checkpoints?: number;
  readonly newestCheckpointSeq?: number | null;
  readonly keptCheckpoints?: number;
  readonly seq?: number;
  readonly problem?: string;
  readonly message?: string;
}

export function reportAudit(deps: CliDeps, args: ParsedArgs, result: AuditReport): number {
  if (args.values.json === true) printJson(deps, result);
  if (result.ok) {
    if (args.values.json !== true) {
      const pinned = result.checkpoints === undefined ? '' : result.checkpoints === 0
        ? '; no signed checkpoint yet'
        : `; ${result.checkpoints} signed checkpoint${result.checkpoints === 1 ? '' : 's'}, the newest at #${result.newestCheckpointSeq}${result.keptCheckpoints === undefined ? '' : ` (${result.keptCheckpoints} in the checkpoint file)`}`;
      deps.stdout.write(`✔ audit log OK: ${result.count} entries, hash chain verified through #${result.lastSeq}${pinned}\n`);
    }
    return EXIT.ok;
  }
  if (args.values.json !== true) deps.stdout.write(`✘ audit log NOT OK at entry #${result.seq}: ${result.problem} — ${result.message}\n`);
  return EXIT.unauthorized;
}

const userCreate: Handler = async (deps, args, api) => {
  const username = positional(args, 0, 'a USERNAME', 'user create');
  const role = requireString(args, 'role', 'user create');
  const tokenOut = requireString(args, 'token-out', 'user create');
  assertAbsent(tokenOut);
  const r = await api.json<{ user: Json; token: string }>('POST', '/api/v1/users', { json: { username, role } });
  writeFileAtomic(tokenOut, `${r.token}\n`, 0o600);
  return out(deps, args, { user: r.user, tokenFile: tokenOut }, () => `✔ User ${username} (${role}); API token written to ${tokenOut} (mode 0600)\n`);
};

const mockDevice: Handler = async (deps, args, api) => {
  const system = requireString(args, 'system', 'mock-device');
  const component = requireString(args, 'component', 'mock-device');
  const outDir = requireString(args, 'out', 'mock-device');
  const count = integerFlag(args, 'count') ?? 1;
  assertAbsent(outDir);
  const r = await api.json<{ root: string; devices: Array<{ deviceId: string; requestId: string; privateKey: string; certificateChain: string; profile: string }> }>(
    'POST',
    '/api/v1/mock-devices',
    { json: { system, component, count } },
  );
  ensureDirectory(outDir);
  writeFileAtomic(join(outDir, 'root.crt'), r.root, 0o644);
  writeFileAtomic(join(outDir, 'MOCK-DEVICE-FILES.txt'), 'These are MOCK device files: the keys were generated by the service, not on a device.\nThey are for experiments only and are not device-locked. Never ship them.\n', 0o644);
  for (const d of r.devices) {
    ensureDirectory(join(outDir, d.deviceId));
    writeFileAtomic(join(outDir, d.deviceId, 'device.key'), d.privateKey, 0o600);
    writeFileAtomic(join(outDir, d.deviceId, 'certificate.pem'), d.certificateChain, 0o600);
    writeFileAtomic(join(outDir, d.deviceId, 'profile.pcp'), d.profile, 0o600);
  }
  return out(deps, args, { dir: outDir, devices: r.devices.map((d) => ({ deviceId: d.deviceId, requestId: d.requestId, dir: join(outDir, d.deviceId) })) }, () =>
    `✔ ${r.devices.length} MOCK device(s) in ${outDir} (keys 0600; pre-generated, not device-locked)\n${r.devices.map((d) => `  ${d.deviceId}  ${join(outDir, d.deviceId)}`).join('\n')}\n`,
  );
};

function policyPath(args: ParsedArgs, command: string): { system: string; component: string | undefined; path: string } {
  const system = requireString(args, 'system', command);
  const component = optionalString(args, 'component');
  const path = component === undefined ? `/api/v1/systems/${enc(system)}/policy` : `/api/v1/systems/${enc(system)}/components/${enc(component)}/policy`;
  return { system, component, path };
}

const listFlag = (args: ParsedArgs, flag: string) => optionalString(args, flag)?.split(',').map((v) => v.trim()).filter((v) => v.length > 0);

function describeRules(rules: Record<string, unknown> | undefined): string {
  const entries = Object.entries(rules ?? {});
  return entries.length === 0 ? '  (no rules)\n' : entries.map(([k, v]) => `  ${k.padEnd(16)}${Array.isArray(v) ? v.join(', ') : String(v)}\n`).join('');
}

const policySet: Handler = async (deps, args, api) => {
  const { system, component, path } = policyPath(args, 'policy set');
  const mode = requireString(args, 'mode', 'policy set');
  if (mode !== 'manual' && mode !== 'automatic') throw usageError(`--mode must be manual or automatic; got "${mode}"`);
  const deviceIdPattern = optionalString(args, 'device-id-pattern');
  const serialAllowList = listFlag(args, 'serials');
  const transports = listFlag(args, 'transports');
  const maxPerHour = integerFlag(args, 'max-per-hour');
  const packageIds = listFlag(args, 'packages');
  const rules = {
    ...(deviceIdPattern !== undefined ? { deviceIdPattern } : {}),
    ...(serialAllowList ? { serialAllowList } : {}),
    ...(transports ? { transports } : {}),
    ...(maxPerHour !== undefined ? { maxPerHour } : {}),
    ...(packageIds ? { packageIds } : {}),
  };
  const p = await api.json<{ mode: string; rules: Record<string, unknown> }>('POST', path, { json: { mode, rules } });
  const scope = component === undefined ? `system "${system}"` : `component "${system}/${component}"`;
  return out(deps, args, p, () => `✔ Approval policy of ${scope}: ${p.mode}\n${p.mode === 'automatic' ? describeRules(p.rules) : ''}`);
};

const policyShow: Handler = async (deps, args, api) => {
  const { path } = policyPath(args, 'policy show');
  type View = { system: string; component: string | null; scope: string; mode: string; rules: Record<string, unknown>; updatedAt: string; updatedBy: string | null } | null;
  const r = await api.json<{ policy: View; effective: View; effectiveMode: string }>('GET', path);
  const where = (v: NonNullable<View>) => (v.scope === 'system' ? `system ${v.system}` : `component ${v.system}/${v.component ?? ''}`);
  return out(deps, args, r, () => {
    const e = r.effective;
    if (!e) return 'mode        manual (no policy: the default)\n';
    return `mode        ${e.mode}\nset on      ${where(e)}${r.policy ? '' : ' (inherited)'}\nupdated     ${e.updatedAt} by ${e.updatedBy ?? '-'}\nrules\n${describeRules(e.rules)}`;
  });
};

const PROTOCOLS = ['est', 'cmp', 'scep'] as const;
type ProtocolView = { system: string; component: string | null; protocol: string; enabledAt: string; enabledBy: string | null };

function protocolTable(items: readonly ProtocolView[]): string {
  if (items.length === 0) return 'no enrollment protocol is enabled (EST, CMP and SCEP are off by default)\n';
  return table([['PROTOCOL', 'SYSTEM', 'COMPONENT', 'ENABLED', 'BY'], ...items.map((p) => [p.protocol, p.system, p.component ?? '(all components)', p.enabledAt, p.enabledBy ?? '-'])]);
}

function protocolSwitch(enabled: boolean): Handler {
  const command = enabled ? 'protocol enable' : 'protocol disable';
  return async (deps, args, api) => {
    const protocol = positional(args, 0, 'a PROTOCOL (est, cmp or scep)', command);
    if (!(PROTOCOLS as readonly string[]).includes(protocol)) throw usageError(`the protocol must be est, cmp or scep; got "${protocol}"`, `provisio ${command} est --system ZMonitor`);
    const system = requireString(args, 'system', command);
    const component = optionalString(args, 'component');
    const r = await api.json<{ changed: boolean; items: ProtocolView[] }>('POST', `/api/v1/systems/${enc(system)}/protocols`, {
      json: { protocol, enabled, ...(component !== undefined ? { component } : {}) },
    });
    const scope = component === undefined ? `system "${system}" (all its components)` : `component "${system}/${component}"`;
    const verb = enabled ? 'enabled' : 'disabled';
    return out(deps, args, r, () => `${r.changed ? '✔' : '='} ${protocol.toUpperCase()} ${r.changed ? verb : `was already ${verb}`} for ${scope}\n`);
  };
}

const protocolShow: Handler = async (deps, args, api) => {
  const system = optionalString(args, 'system');
  const r = await api.json<{ items: ProtocolView[] }>('GET', `/api/v1/protocols${system !== undefined ? `?system=${enc(system)}` : ''}`);
  return out(deps, args, r, () => protocolTable(r.items));
};

const str = { type: 'string' } as const;
const paging = { limit: str, offset: str } as const;
const AUDIT_FILTERS = { actor: str, action: str, target: str, since: str, until: str } as const;

export const SERVICE_COMMANDS: readonly CommandSpec[] = [
  remote('system create', HELP.SYSTEM_CREATE, { 'no-mock': { type: 'boolean' }, 'separation-of-duties': str, 'secret-approves': str, 'central-keys': str }, 1, systemCreate),
  remote('system list', HELP.SYSTEM_LIST, {}, 0, systemList),
  remote('system show', HELP.SYSTEM_SHOW, {}, 1, systemShow),
  remote('system update', HELP.SYSTEM_UPDATE, { 'allow-mock': { type: 'boolean' }, 'no-mock': { type: 'boolean' }, 'separation-of-duties': str, 'secret-approves': str, 'central-keys': str }, 1, systemUpdate),
  remote('component create', HELP.COMPONENT_CREATE, { 'system': str, 'key-type': str, 'validity-days': str, 'renewal-grace-days': str }, 1, componentCreate),
  remote('component update', HELP.COMPONENT_UPDATE, { 'system': str, 'renewal-grace-days': str }, 1, componentUpdate),
  remote('package create', HELP.PACKAGE_CREATE, { 'system': str, 'out': str, 'days': str, 'request-lifetime': str }, 0, packageCreate),
  remote('package list', HELP.PACKAGE_LIST, { system: str }, 0, packageList),
  remote('package revoke', HELP.PACKAGE_REVOKE, { reason: str }, 1, packageRevoke),
  remote('request upload', HELP.REQUEST_UPLOAD, {}, 1000, requestUpload),
  remote('request list', HELP.REQUEST_LIST, { state: str, system: str, component: str, q: str, ...paging }, 0, requestList),
  remote('request show', HELP.REQUEST_SHOW, {}, 1, requestShow),
  remote('request approve', HELP.REQUEST_APPROVE, {}, MAX_APPROVE_MANY, requestApprove),
  remote('request reject', HELP.REQUEST_REJECT, { reason: str }, 1, requestReject),
  remote('profile download', HELP.PROFILE_DOWNLOAD, { 'out': str, 'bundle': str, 'request-bundle': str }, 10_000, profileDownload),
  remote('device complete', HELP.DEVICE_COMPLETE, {}, 1, deviceComplete),
  remote('device list', HELP.DEVICE_LIST, { 'state': str, 'system': str, 'component': str, 'transport': str, 'q': str, 'needs-approval': { type: 'boolean' }, 'expiring': str, 'overdue': { type: 'boolean' }, ...paging }, 0, deviceList),
  remote('device get', HELP.DEVICE_GET, {}, 1, deviceGet),
  remote('device revoke', HELP.DEVICE_REVOKE, { reason: str, yes: { type: 'boolean' } }, 1, deviceRevoke),
  remote('device request-reprovision', HELP.DEVICE_REQUEST_REPROVISION, { reason: str, cancel: { type: 'boolean' } }, 1, deviceRequestReprovision),
  remote('crl fetch', HELP.CRL_FETCH, { out: str, pem: { type: 'boolean' } }, 0, crlFetch),
  remote('audit list', HELP.AUDIT_LIST, { ...AUDIT_FILTERS, ...paging }, 0, auditList),
  remote('audit export', HELP.AUDIT_EXPORT, { ...AUDIT_FILTERS, out: str, limit: str, checkpoints: str }, 0, auditExport),
  remote('mock-device', HELP.MOCK_DEVICE, { system: str, component: str, count: str, out: str }, 0, mockDevice),
  remote('user create', HELP.USER_CREATE, { 'role': str, 'token-out': str }, 1, userCreate),
  remote('policy set', HELP.POLICY_SET, { 'system': str, 'component': str, 'mode': str, 'device-id-pattern': str, 'serials': str, 'transports': str, 'max-per-hour': str, 'packages': str }, 0, policySet),
  remote('policy show', HELP.POLICY_SHOW, { system: str, component: str }, 0, policyShow),
  remote('protocol enable', HELP.PROTOCOL_ENABLE, { system: str, component: str }, 1, protocolSwitch(true)),
  remote('protocol disable', HELP.PROTOCOL_DISABLE, { system: str, component: str }, 1, protocolSwitch(false)),
  remote('protocol show', HELP.PROTOCOL_SHOW, { system: str }, 0, protocolShow),
];
