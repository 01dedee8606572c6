/**
 * Runs the BUILT `provisio` (packages/cli/dist/main.js, made by `tsc -b` before the tests) as a
 * child process, the way people and scripts run it: no terminal, a controlled environment.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

/** `provisio ARGS` in the background: for commands that run longer than spawnSync's limit, or beside a child process. */
export function provisioAsync(args: readonly string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: environment(env) });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.once('exit', (status) => resolve({ status, stdout, stderr })));
}

/** For assertion messages: everything the command said. */
export function transcript(r: CliResult): string {
  return `exit ${r.status}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
}

export const ROOT_PASSPHRASE = 'correct horse battery staple';
export const ROOT_ENV = { PROVISIO_ROOT_PASSPHRASE: ROOT_PASSPHRASE };

/** A `provisio serve` child process on a free loopback port, and what it printed on start. */
export interface ServeProcess {
  readonly child: ChildProcess;
  /** PROVISIO_URL, PROVISIO_CA_FILE and PROVISIO_TOKEN (the admin token) for CLI calls. */
  readonly env: Record<string, string>;
  readonly stdout: string;
  readonly stderr: string;
  stop(): Promise<void>;
}

/** Starts `provisio serve --port 0 ARGS` (or on `port`, e.g. to restart) and waits until it says where it serves. */
export async function startServe(args: readonly string[], options: { port?: number; env?: Record<string, string> } = {}): Promise<ServeProcess> {
  const child = spawn(process.execPath, [MAIN, 'serve', '--port', String(options.port ?? 0), ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...(options.env ? { env: { ...process.env, ...options.env } } : {}) });
  let out = '';
  let err = '';
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${out}\n${err}`)), 30_000);
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /serving (https:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}:\n${out}\n${err}`)));
  });
  const rootPath = /root of trust\s+(\S+)/.exec(out)?.[1] as string;
  const tokenPath = /admin(?: API)? token:?\s+(\S+)/i.exec(out)?.[1] as string;
  return {
    child,
    env: { PROVISIO_URL: url, PROVISIO_CA_FILE: rootPath, PROVISIO_TOKEN: readFileSync(tokenPath, 'utf8').trim() },
    stdout: out,
    get stderr() {
      return err;
    },
    async stop() {
      // Already gone (exited, or killed by a signal, e.g. a crash test's SIGKILL).
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Runs `provisio ARGS` and asserts exit 0. */
export function ok(args: readonly string[], env: Record<string, string>): CliResult {
  const r = provisio(args, { env });
  assert.equal(r.status, 0, `provisio ${args.join(' ')}\n${transcript(r)}`);
  return r;
}
