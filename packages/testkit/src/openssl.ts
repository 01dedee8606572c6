import { spawnSync } from 'node:child_process';

export interface ToolResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout and stderr together: several openssl commands report failures on stdout and exit 0. */
  readonly output: string;
}

/** Runs `openssl` with `args`; never through a shell. */
export function openssl(
  args: readonly string[],
  options: { input?: Uint8Array | string; cwd?: string; env?: NodeJS.ProcessEnv } = {},
): ToolResult {
  const result = spawnSync('openssl', args, {
    input: options.input,
    cwd: options.cwd,
    env: options.env ?? process.env,
    timeout: 30_000,
  });
  if (result.error) throw result.error;
  const stdout = result.stdout.toString('utf8');
  const stderr = result.stderr.toString('utf8');
  return { status: result.status, stdout, stderr, output: stdout + stderr };
}
