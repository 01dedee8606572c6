#!/usr/bin/env node
/**
 * The composition root of the `provisio` command: the only place that touches the real clock,
 * the CSPRNG, the environment, the standard streams and the terminal.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PkiError, systemClock } from '@provisio/pki';
import type { CliDeps } from './io.js';
import { run } from './run.js';
import { createTerminal } from './terminal.js';

function version(): string {
  try {
    // package.json sits one level above both src/ and dist/.
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

async function readStdin(maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    size += buf.length;
    if (size > maxBytes) throw new PkiError('input_too_large', `stdin has more than ${maxBytes} bytes`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

const deps: CliDeps = {
  clock: systemClock,
  random: { bytes: (n) => randomBytes(n) },
  env: process.env,
  stdout: { write: (t) => void process.stdout.write(t), isTTY: process.stdout.isTTY === true },
  stderr: { write: (t) => void process.stderr.write(t), isTTY: process.stderr.isTTY === true },
  readStdin,
  terminal: process.stdin.isTTY ? createTerminal(process.stdin, process.stderr) : null,
  version: version(),
};

// exitCode rather than exit(): lets stdout drain when it is a pipe.
process.exitCode = await run(process.argv.slice(2), deps);
