/**
 * One-time enrollment tokens (docs/service.md "Enrollment tokens"): `token create|list|revoke`
 * talk to the service with an admin token. A created token is printed once, on stdout (or written
 * 0600 to --out FILE), and never again: the service keeps only its hash.
 */
import { type ParsedArgs, optionalString, requireString } from '../args.js';
import { CONNECTION_OPTIONS, connect } from '../api-client.js';
import { COMMON_OPTIONS, type CommandSpec, printJson } from '../command.js';
import { EXIT, usageError } from '../errors.js';
import { SECRET_MODE, assertAbsent, writeFileAtomic } from '../files.js';
import { TOKEN_CREATE, TOKEN_LIST, TOKEN_REVOKE } from '../help-service.js';
import type { CliDeps } from '../io.js';
import { QR_OPTIONS, qrTarget, renderSetupQr } from '../setup-qr.js';

export type TokenView = {
  id: string; system: string; component: string; deviceId: string | null; devicePattern: string | null;
  maxUses: number; uses: number; state: string; expiresAt: string; createdAt: string; revokedAt: string | null;
};

const UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400 };

/** `90s`, `30m`, `24h`, `7d` as seconds; undefined when the flag is not given. */
export function durationFlag(args: ParsedArgs, flag: string, example: string): number | undefined {
  const raw = optionalString(args, flag);
  if (raw === undefined) return undefined;
  const m = /^(\d{1,7})([smhd])$/.exec(raw);
  if (!m) throw usageError(`--${flag} takes a number and a unit (s, m, h or d); got "${raw}"`, example);
  return Number(m[1]) * (UNITS[m[2] as string] ?? 1);
}

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return `${rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')).join('\n')}\n`;
}

async function tokenCreate(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const system = requireString(args, 'system', 'token create');
  const component = requireString(args, 'component', 'token create');
  const deviceId = optionalString(args, 'id');
  const devicePattern = optionalString(args, 'pattern');
  if ((deviceId === undefined) === (devicePattern === undefined)) {
    throw usageError('"provisio token create" binds the token to --id DEVICE-ID or to --pattern REGEX (one of them)', 'provisio token create --system ZMonitor --component "bedside monitor" --id ZM-0042');
  }
  const usesText = optionalString(args, 'uses');
  if (usesText !== undefined && !/^\d{1,5}$/.test(usesText)) throw usageError(`--uses must be a whole number; got "${usesText}"`);
  const expiresInSeconds = durationFlag(args, 'expires', 'provisio token create ... --expires 24h');
  const outFile = optionalString(args, 'out');
  if (outFile) assertAbsent(outFile);
  qrTarget(args, 'token create');
  const r = await connect(deps, args).json<{ token: string; setup: string; record: TokenView }>('POST', '/api/v1/tokens', {
    json: {
      system,
      component,
      ...(deviceId !== undefined ? { deviceId } : { devicePattern }),
      ...(usesText !== undefined ? { maxUses: Number(usesText) } : {}),
      ...(expiresInSeconds !== undefined ? { expiresInSeconds } : {}),
    },
  });
  if (outFile) writeFileAtomic(outFile, `${r.token}\n`, SECRET_MODE);
  if (args.values.json === true) printJson(deps, { ...(outFile ? { file: outFile } : { token: r.token }), record: r.record });
  else {
    const bound = r.record.deviceId !== null ? `device ${r.record.deviceId}` : `device ids matching ${r.record.devicePattern}`;
    if (!outFile) deps.stdout.write(`${r.token}\n`);
    deps.stderr.write(
      `✔ Enrollment token ${r.record.id} for ${bound} in ${r.record.system}/${r.record.component}: ${r.record.maxUses} use(s) until ${r.record.expiresAt}\n` +
      `  ${outFile ? `written to ${outFile} (mode 0600)` : 'shown once: the service keeps only its hash'}\n` +
      `Next (on the device): provisio device enroll --url ${connect(deps, args).url} --ca ROOT.pem --token-file FILE --id ${r.record.deviceId ?? 'DEVICE-ID'} --dir KEYSTORE\n`,
    );
  }
  await renderSetupQr(deps, args, r.setup);
  return EXIT.ok;
}

async function tokenList(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const system = optionalString(args, 'system');
  const { items } = await connect(deps, args).json<{ items: TokenView[] }>('GET', `/api/v1/tokens${system ? `?system=${encodeURIComponent(system)}` : ''}`);
  if (args.values.json === true) printJson(deps, items);
  else {
    deps.stdout.write(table([
      ['ID', 'STATE', 'SYSTEM/COMPONENT', 'BOUND TO', 'USES', 'EXPIRES'],
      ...items.map((t) => [t.id, t.state, `${t.system}/${t.component}`, t.deviceId ?? t.devicePattern ?? '', `${t.uses}/${t.maxUses}`, t.expiresAt]),
    ]));
  }
  return EXIT.ok;
}

async function tokenRevoke(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const id = args.positionals[0];
  if (!id) throw usageError('"provisio token revoke" needs a token ID (from "provisio token list")');
  const t = await connect(deps, args).json<TokenView>('POST', `/api/v1/tokens/${encodeURIComponent(id)}/revoke`);
  if (args.values.json === true) printJson(deps, t);
  else deps.stdout.write(`✔ Enrollment token ${t.id} revoked at ${t.revokedAt ?? '?'}: it enrolls nothing from now on\n`);
  return EXIT.ok;
}

const str = { type: 'string' } as const;

export const TOKEN_COMMANDS: readonly CommandSpec[] = [
  { path: 'token create', help: TOKEN_CREATE, options: { ...COMMON_OPTIONS, ...CONNECTION_OPTIONS, ...QR_OPTIONS, system: str, component: str, id: str, pattern: str, uses: str, expires: str, out: str }, maxPositionals: 0, run: tokenCreate },
  { path: 'token list', help: TOKEN_LIST, options: { ...COMMON_OPTIONS, ...CONNECTION_OPTIONS, system: str }, maxPositionals: 0, run: tokenList },
  { path: 'token revoke', help: TOKEN_REVOKE, options: { ...COMMON_OPTIONS, ...CONNECTION_OPTIONS }, maxPositionals: 1, run: tokenRevoke },
];
