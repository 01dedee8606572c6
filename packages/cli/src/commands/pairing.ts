/**
 * Pairing codes (docs/service.md "Pairing codes"): `pairing create|list|revoke|reset` talk to the
 * service with an admin token. A created code is printed once and never again: the service keeps
 * only a scrypt hash of it.
 */
import { type ParsedArgs, optionalString, requireString } from '../args.js';
import { CONNECTION_OPTIONS, connect } from '../api-client.js';
import { COMMON_OPTIONS, type CommandSpec, printJson } from '../command.js';
import { EXIT } from '../errors.js';
import { PAIRING_CREATE, PAIRING_LIST, PAIRING_RESET, PAIRING_REVOKE } from '../help-service.js';
import type { CliDeps } from '../io.js';
import { QR_OPTIONS, qrTarget, renderSetupQr } from '../setup-qr.js';
import { durationFlag } from './token.js';

type PairingView = {
  deviceId: string; deviceLabel: string; system: string; component: string; state: string; failedAttempts: number;
  expiresAt: string; lockedAt: string | null; usedAt: string | null; revokedAt: string | null;
};

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return `${rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')).join('\n')}\n`;
}

async function pairingCreate(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const cmd = 'pairing create';
  const system = requireString(args, 'system', cmd);
  const component = requireString(args, 'component', cmd);
  const deviceId = requireString(args, 'id', cmd);
  const deviceLabel = requireString(args, 'label', cmd);
  const expiresInSeconds = durationFlag(args, 'expires', 'provisio pairing create ... --expires 72h');
  qrTarget(args, cmd);
  const api = connect(deps, args);
  const r = await api.json<{ code: string; setup: string; record: PairingView }>('POST', '/api/v1/pairings', {
    json: { system, component, deviceId, deviceLabel, ...(expiresInSeconds !== undefined ? { expiresInSeconds } : {}) },
  });
  if (args.values.json === true) printJson(deps, r);
  else {
    deps.stdout.write(`${r.code}\n`);
    deps.stderr.write(
      `✔ Pairing code for ${r.record.deviceId} ("${r.record.deviceLabel}", ${r.record.system}/${r.record.component}), single use, until ${r.record.expiresAt}\n` +
      '  shown once: the service keeps only a scrypt hash; 5 wrong codes lock it until "provisio pairing reset"\n' +
      `Next (on the device): provisio device pair --url ${api.url} --ca ROOT.pem --id ${r.record.deviceId} --code CODE --dir KEYSTORE\n`,
    );
  }
  await renderSetupQr(deps, args, r.setup);
  return EXIT.ok;
}

async function pairingList(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const system = optionalString(args, 'system');
  const { items } = await connect(deps, args).json<{ items: PairingView[] }>('GET', `/api/v1/pairings${system ? `?system=${encodeURIComponent(system)}` : ''}`);
  if (args.values.json === true) printJson(deps, items);
  else {
    deps.stdout.write(table([
      ['DEVICE', 'STATE', 'LABEL', 'SYSTEM/COMPONENT', 'WRONG', 'EXPIRES'],
      ...items.map((p) => [p.deviceId, p.state, p.deviceLabel, `${p.system}/${p.component}`, String(p.failedAttempts), p.expiresAt]),
    ]));
  }
  return EXIT.ok;
}

function byId(action: 'revoke' | 'reset', said: (p: PairingView) => string): CommandSpec['run'] {
  return async (deps, args) => {
    const deviceId = requireString(args, 'id', `pairing ${action}`);
    const p = await connect(deps, args).json<PairingView>('POST', `/api/v1/pairings/${encodeURIComponent(deviceId)}/${action}`);
    if (args.values.json === true) printJson(deps, p);
    else deps.stdout.write(said(p));
    return EXIT.ok;
  };
}

const str = { type: 'string' } as const;
const CONNECT = { ...COMMON_OPTIONS, ...CONNECTION_OPTIONS };

export const PAIRING_COMMANDS: readonly CommandSpec[] = [
  { path: 'pairing create', help: PAIRING_CREATE, options: { ...CONNECT, ...QR_OPTIONS, system: str, component: str, id: str, label: str, expires: str }, maxPositionals: 0, run: pairingCreate },
  { path: 'pairing list', help: PAIRING_LIST, options: { ...CONNECT, system: str }, maxPositionals: 0, run: pairingList },
  {
    path: 'pairing revoke', help: PAIRING_REVOKE, options: { ...CONNECT, id: str }, maxPositionals: 0,
    run: byId('revoke', (p) => `✔ Pairing of ${p.deviceId} revoked at ${p.revokedAt ?? '?'}: its code pairs nothing from now on\n`),
  },
  {
    path: 'pairing reset', help: PAIRING_RESET, options: { ...CONNECT, id: str }, maxPositionals: 0,
    run: byId('reset', (p) => `✔ Pairing of ${p.deviceId}: wrong codes cleared, ${p.state}\n`),
  },
];
