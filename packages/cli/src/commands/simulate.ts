/**
 * `provisio simulate`: the fleet simulator (docs/device.md, "Fleet simulator"). N simulated
 * devices provision against a real service in one of three deliveries (connected, proxy through a
 * gateway, disconnected with the simulator as technician), with automatic or simulated manual
 * approval; the work is the device SDK's `prepareFleet` + `runFleet`. A progress bar on stderr
 * when it is a terminal (plain lines otherwise), then the summary. Exits non-zero when any device
 * failed.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FleetApproval, type FleetMode, type FleetProgress, prepareFleet, runFleet } from '@provisio/device';
import { parsePackage } from '@provisio/protocol';
import { integerFlag, isSet, optionalString, type ParsedArgs, requireString } from '../args.js';
import { COMMON_OPTIONS, type CommandSpec, printJson } from '../command.js';
import { EXIT, usageError } from '../errors.js';
import { readInputFile } from '../files.js';
import { fieldLines } from '../format-text.js';
import { SIMULATE_HELP } from '../help.js';
import type { CliDeps } from '../io.js';

const MAX_PACKAGE_BYTES = 1024 * 1024;
const MODES: readonly FleetMode[] = ['connected', 'proxy', 'disconnected'];
const APPROVALS: readonly FleetApproval[] = ['auto', 'manual'];

function choice<T extends string>(args: ParsedArgs, flag: string, allowed: readonly T[], fallback: T): T {
  const v = optionalString(args, flag) ?? fallback;
  if (!(allowed as readonly string[]).includes(v)) throw usageError(`--${flag} must be one of ${allowed.join(', ')}; got "${v}"`);
  return v as T;
}

/** `[████████░░░░░░░░] 120/200  119 ok  1 failed  12.3/s` redrawn in place. */
function progressBar(p: FleetProgress, startedMs: number): string {
  const width = 24;
  const filled = Math.round((p.done / p.total) * width);
  const rate = p.provisioned / Math.max(0.001, (performance.now() - startedMs) / 1000);
  return `\r[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${p.done}/${p.total}  ${p.provisioned} ok  ${p.failed} failed  ${rate.toFixed(1)}/s `;
}

async function simulate(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const cmd = 'simulate';
  const packagePath = requireString(args, 'package', cmd);
  const component = requireString(args, 'component', cmd);
  const count = integerFlag(args, 'devices', 0, 1, 100_000, cmd);
  if (count === 0) requireString(args, 'devices', cmd);
  const concurrency = integerFlag(args, 'concurrency', 8, 1, 1024, cmd);
  const waitSeconds = integerFlag(args, 'wait', 300, 1, 604_800, cmd);
  const mode = choice(args, 'mode', MODES, 'connected');
  const approve = choice(args, 'approve', APPROVALS, 'auto');
  const gatewayUrl = optionalString(args, 'gateway');
  if (mode === 'proxy' && !gatewayUrl) throw usageError('--mode proxy needs --gateway URL (the gateway the devices talk to)');
  if (mode !== 'proxy' && gatewayUrl) throw usageError('--gateway is only for --mode proxy');
  const tokenFile = optionalString(args, 'token-file');
  const apiToken = tokenFile ? readInputFile(tokenFile, 4096).toString('utf8').trim() : deps.env.PROVISIO_TOKEN?.trim() || undefined;
  if (!apiToken && (mode === 'disconnected' || approve === 'manual')) {
    throw usageError(
      `${mode === 'disconnected' ? '--mode disconnected' : '--approve manual'} needs an API token (the simulator acts as ${mode === 'disconnected' ? 'technician' : 'approver'})`,
      'set PROVISIO_TOKEN or pass --token-file FILE',
    );
  }
  const idPrefix = optionalString(args, 'prefix') ?? 'SIM-';
  const packageText = readInputFile(packagePath, MAX_PACKAGE_BYTES).toString('utf8');
  const serviceUrl = optionalString(args, 'url') ?? parsePackage(packageText).serviceUrl;
  const dir = optionalString(args, 'dir') ?? mkdtempSync(join(tmpdir(), 'provisio-simulate-'));
  const json = isSet(args, 'json');

  const prepared = await prepareFleet({ clock: deps.clock, random: deps.random }, { packageText, component, count, dir, idPrefix, concurrency });
  const tty = deps.stderr.isTTY === true;
  const started = performance.now();
  let lastLine = -1;
  const onProgress = (p: FleetProgress) => {
    if (tty) {
      deps.stderr.write(progressBar(p, started));
      return;
    }
    // Not a terminal: one plain line per tenth of the fleet.
    const tenth = Math.floor((p.done * 10) / p.total);
    if (tenth !== lastLine) {
      lastLine = tenth;
      deps.stderr.write(`provisio: simulate: ${p.done}/${p.total} done, ${p.provisioned} provisioned, ${p.failed} failed\n`);
    }
  };
  const summary = await runFleet(
    { clock: deps.clock, random: deps.random },
    prepared,
    {
      mode,
      approve,
      concurrency,
      serviceUrl,
      ...(gatewayUrl ? { gatewayUrl } : {}),
      ...(apiToken ? { apiToken } : {}),
      maxWaitMs: waitSeconds * 1000,
      onProgress,
    },
  );
  if (tty) deps.stderr.write('\n');
  const failedTotal = Object.values(summary.failed).reduce((a, b) => a + b, 0);
  if (json) {
    printJson(deps, { ...summary, serviceUrl, ...(gatewayUrl ? { gatewayUrl } : {}), dir });
  } else {
    const ms = (v: number | null) => (v === null ? '-' : `${v} ms`);
    deps.stdout.write(
      [
        `Simulated ${summary.devices} ${mode} devices against ${mode === 'proxy' ? `gateway ${gatewayUrl}` : serviceUrl} (approval: ${approve})`,
        ...fieldLines([
          ['provisioned', String(summary.provisioned)],
          ['failed', failedTotal === 0 ? '0' : `${failedTotal} (${Object.entries(summary.failed).map(([c, n]) => `${c}: ${n}`).join(', ')})`],
          ['concurrency', String(summary.concurrency)],
          ['seconds', String(summary.seconds)],
          ['enrollments/s', String(summary.perSecond)],
          ['latency p50', ms(summary.latencyMs.p50)],
          ['latency p99', ms(summary.latencyMs.p99)],
          ['human wait p50', summary.humanWaitMs ? ms(summary.humanWaitMs.p50) : null],
          ['human wait p99', summary.humanWaitMs ? ms(summary.humanWaitMs.p99) : null],
          ['policy', summary.policy === 'set' ? `set to automatic for ${idPrefix}* on ${prepared.system}/${component}` : summary.policy],
          ['keystores', dir],
        ]),
        '',
      ].join('\n'),
    );
  }
  // Exit 1 (like any failure without a more specific code) when a device did not make it.
  return failedTotal === 0 ? EXIT.ok : EXIT.internal;
}

export const SIMULATE_COMMAND: CommandSpec = {
  path: 'simulate',
  help: SIMULATE_HELP,
  options: {
    ...COMMON_OPTIONS,
    'package': { type: 'string' },
    'component': { type: 'string' },
    'devices': { type: 'string' },
    'concurrency': { type: 'string' },
    'mode': { type: 'string' },
    'approve': { type: 'string' },
    'gateway': { type: 'string' },
    'token-file': { type: 'string' },
    'url': { type: 'string' },
    'prefix': { type: 'string' },
    'dir': { type: 'string' },
    'wait': { type: 'string' },
  },
  maxPositionals: 0,
  run: simulate,
};
