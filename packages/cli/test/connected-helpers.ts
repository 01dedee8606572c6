/**
 * Helpers of the connected-delivery tests that run real processes: admin API calls with the
 * server's token and root, a system set up with the CLI, the agent in the background.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { MAIN, ok } from './run-cli.js';

/** One admin API call (JSON) with the server's token and root. */
export function api<T = Record<string, any>>(env: Record<string, string>, method: 'GET' | 'POST', path: string, json?: unknown): Promise<{ status: number; body: T }> { // eslint-disable-line @typescript-eslint/no-explicit-any -- test replies are read loosely
  const ca = readFileSync(env.PROVISIO_CA_FILE as string, 'utf8');
  return new Promise((resolve, reject) => {
    const payload = json === undefined ? undefined : Buffer.from(JSON.stringify(json));
    const req = httpsRequest(`${env.PROVISIO_URL}${path}`, {
      method,
      ca,
      agent: false,
      headers: { authorization: `Bearer ${env.PROVISIO_TOKEN}`, ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null') as T }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** Creates system, component and package with the CLI; returns the package path. */
export function setUp(env: Record<string, string>, dir: string, system: string, automatic: boolean): string {
  ok(['system', 'create', system], env);
  ok(['component', 'create', '--system', system, 'sensor'], env);
  if (automatic) ok(['policy', 'set', '--system', system, '--mode', 'automatic', '--transports', 'connected'], env);
  const pkg = join(dir, `${system}.ppkg`);
  ok(['package', 'create', '--system', system, '--out', pkg], env);
  return pkg;
}

/** `provisio device run` in the background, with its combined output. */
export function agent(args: string[]): { child: ChildProcess; output: () => string; done: Promise<number | null> } {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PROVISIO_')) env[k] = v;
  const child = spawn(process.execPath, [MAIN, 'device', 'run', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let text = '';
  child.stdout?.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (text += c.toString()));
  const done = new Promise<number | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
  return { child, output: () => text, done };
}

export async function until(what: string, check: () => boolean, output: () => string): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}:\n${output()}`);
}

export async function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  await exited;
}
