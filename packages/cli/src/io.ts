/**
 * The world as a command sees it, passed in as one `deps` object so tests (and main.ts, the only
 * composition root) decide what is real: clock, randomness, environment, streams, terminal.
 */
import type { Clock, Random } from '@provisio/pki';

export interface Output {
  write(text: string): void;
  readonly isTTY: boolean;
}

/** The interactive terminal, when there is one. */
export interface Terminal {
  /** Prints `prompt` on stderr and reads one line with echo off. Throws `Interrupted` on Ctrl-C. */
  readSecret(prompt: string): Promise<string>;
}

export interface CliDeps {
  readonly clock: Clock;
  readonly random: Random;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: Output;
  readonly stderr: Output;
  /** Reads all of stdin, refusing more than `maxBytes`. */
  readStdin(maxBytes: number): Promise<Buffer>;
  /** null when stdin is not a terminal: nothing can be asked. */
  readonly terminal: Terminal | null;
  readonly version: string;
}

export interface Style {
  ok(text: string): string;
  warn(text: string): string;
  bad(text: string): string;
  dim(text: string): string;
  bold(text: string): string;
}

const plain: Style = { ok: (t) => t, warn: (t) => t, bad: (t) => t, dim: (t) => t, bold: (t) => t };

const sgr =
  (open: number, close: number) =>
    (text: string): string =>
      `\u001b[${open}m${text}\u001b[${close}m`;

/**
 * Colour only on a terminal, and never with NO_COLOR set to anything non-empty (no-color.org) or
 * TERM=dumb (clig.dev: output read by programs must not carry escape codes).
 */
export function styleFor(out: Output, env: CliDeps['env']): Style {
  if (!out.isTTY || (env.NO_COLOR ?? '') !== '' || env.TERM === 'dumb') return plain;
  return { ok: sgr(32, 39), warn: sgr(33, 39), bad: sgr(31, 39), dim: sgr(2, 22), bold: sgr(1, 22) };
}
