/**
 * `provisio simulate`: the fleet simulator (docs/device.md, "Fleet simulator"). N simulated
 * devices provision over connected delivery against a real service; the work is the device SDK's
 * `simulateFleet`. Prints a one-line progress counter on stderr when it is a terminal, then the
 * summary. Exits non-zero when any device failed.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FleetProgress, simulateFleet } from '@provisio/device';
import { parsePackage } from '@provisio/protocol';
import { integerFlag, isSet, optionalString, type ParsedArgs, requireString } from '../args.js';
import { COMMON_OPTIONS, type CommandSpec, printJson } from '../command.js';
import { EXIT } from '../errors.js';
import { readInputFile } from '../files.js';
import { fieldLines } from '../format-text.js';
import { SIMULATE_HELP } from '../help.js';
import type { CliDeps } from '../io.js';

const MAX_PACKAGE_BYTES = 1024 * 1024;

async function simulate(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const cmd = 'simulate';
  const packagePath = requireString(args, 'package', cmd);
  const component = requireString(args, 'component', cmd);
  const count = integerFlag(args, 'devices', 0, 1, 100_000, cmd);
  if (count === 0) requireString(args, 'devices', cmd);
  const concurrency = integerFlag(args, 'concurrency', 8, 1, 1024, cmd);
  const waitSeconds = integerFlag(args, 'wait', 300, 1, 604_800, cmd);
  const idPrefix = optionalString(args, 'prefix') ?? 'SIM-';
  const packageText = readInputFile(packagePath, MAX_PACKAGE_BYTES).toString('utf8');
  const serviceUrl = optionalString(args, 'url') ?? parsePackage(packageText).serviceUrl;
  const dir = optionalString(args, 'dir') ?? mkdtempSync(join(tmpdir(), 'provisio-simulate-'));
  const json = isSet(args, 'json');

  const tty = deps.stderr.isTTY;
  const onProgress = tty
    ? (p: FleetProgress) => deps.stderr.write(`\r${p.done}/${p.total} done, ${p.provisioned} provisioned, ${p.failed} failed`)
    : undefined;
  const summary = await simulateFleet(
    { clock: deps.clock, random: deps.random },
    { packageText, component, count, concurrency, serviceUrl, dir, idPrefix, maxWaitMs: waitSeconds * 1000, ...(onProgress ? { onProgress } : {}) },
  );
  if (tty) deps.stderr.write('\n');
  const failedTotal = Object.values(summary.failed).reduce((a, b) => a + b, 0);
  if (json) {
    printJson(deps, { ...summary, serviceUrl, dir });
  } else {
    const ms = (v: number | null) => (v === null ? '-' : `${v} ms`);
    deps.stdout.write(
      [
        `Simulated ${summary.devices} connected devices against ${serviceUrl}`,
        ...fieldLines([
          ['provisioned', String(summary.provisioned)],
          ['failed', failedTotal === 0 ? '0' : `${failedTotal} (${Object.entries(summary.failed).map(([c, n]) => `${c}: ${n}`).join(', ')})`],
          ['concurrency', String(summary.concurrency)],
          ['seconds', String(summary.seconds)],
          ['enrollments/s', String(summary.perSecond)],
          ['latency p50', ms(summary.latencyMs.p50)],
          ['latency p99', ms(summary.latencyMs.p99)],
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
    package: { type: 'string' },
    component: { type: 'string' },
    devices: { type: 'string' },
    concurrency: { type: 'string' },
    url: { type: 'string' },
    prefix: { type: 'string' },
    dir: { type: 'string' },
    wait: { type: 'string' },
  },
  maxPositionals: 0,
  run: simulate,
};
