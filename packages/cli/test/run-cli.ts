/**
 * Runs the BUILT `provisio` (packages/cli/dist/main.js, made by `tsc -b` before the tests) as a
 * child process, the way people and scripts run it: no terminal, a controlled environment.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));

export interface CliResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The parent's environment without any PROVISIO_* variable, plus `env`. */
function environment(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('PROVISIO_') && k !== 'NO_COLOR' && k !== 'FORCE_COLOR') base[k] = v;
  }
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete base[k];
    else base[k] = v;
  }
  return base;
}

export function provisio(
  args: readonly string[],
  options: { env?: Record<string, string | undefined>; input?: string | Uint8Array; cwd?: string } = {},
): CliResult {
  const result = spawnSync(process.execPath, [MAIN, ...args], {
    cwd: options.cwd,
    env: environment(options.env ?? {}),
    input: options.input ?? '',
    encoding: 'buffer',
    timeout: 60_000,
  });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout.toString('utf8'), stderr: result.stderr.toString('utf8') };
}

/** For assertion messages: everything the command said. */
export function transcript(r: CliResult): string {
  return `exit ${r.status}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
}

export const ROOT_PASSPHRASE = 'correct horse battery staple';
export const ROOT_ENV = { PROVISIO_ROOT_PASSPHRASE: ROOT_PASSPHRASE };
