import { spawn, spawnSync } from 'node:child_process';

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

/**
 * Runs `openssl` without blocking the event loop: for commands that talk to a server running in
 * the test's own process (`openssl ocsp -url`, `s_client`), which spawnSync would starve.
 */
export function opensslAsync(
  args: readonly string[],
  options: { input?: Uint8Array | string; cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', args, { cwd: options.cwd, env: options.env ?? process.env, timeout: options.timeoutMs ?? 30_000 });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.once('error', reject);
    child.once('close', (status) => {
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      resolve({ status, stdout, stderr, output: stdout + stderr });
    });
    child.stdin.end(options.input);
  });
}
