/**
 * Passphrases come from an environment variable or a terminal prompt with echo off, never from a
 * flag (flags end up in shell history and `ps`), and are never printed.
 */
import { CliError } from './errors.js';
import type { CliDeps } from './io.js';

/**
 * 12 characters: with PBKDF2 at 600,000 iterations (encrypt-private-key.ts), five random diceware
 * words or 12 random characters put an offline guessing attack on a stolen root.key out of reach;
 * shorter passphrases are usually words a dictionary attack finds.
 */
export const MIN_PASSPHRASE_LENGTH = 12;

function fromEnv(deps: Pick<CliDeps, 'env'>, variable: string): string | undefined {
  const value = deps.env[variable];
  return value === undefined || value === '' ? undefined : value;
}

function checkStrength(passphrase: string, source: string): string {
  if ([...passphrase].length < MIN_PASSPHRASE_LENGTH) {
    throw new CliError(
      'passphrase_too_short',
      `the passphrase from ${source} has fewer than ${MIN_PASSPHRASE_LENGTH} characters`,
      'use five or more random words; the passphrase is all that protects the key file if it is copied',
    );
  }
  return passphrase;
}

function required(variable: string, what: string): CliError {
  return new CliError(
    'passphrase_required',
    `${what} needs a passphrase: ${variable} is not set and there is no terminal to ask on`,
    `set ${variable} in the environment (not on the command line) or run the command in a terminal`,
  );
}

/** A passphrase for a key about to be created: from `variable`, or typed twice on the terminal. */
export async function newPassphrase(
  deps: Pick<CliDeps, 'env' | 'terminal'>,
  variable: string,
  what: string,
): Promise<string> {
  const env = fromEnv(deps, variable);
  if (env !== undefined) return checkStrength(env, variable);
  if (!deps.terminal) throw required(variable, what);
  const first = checkStrength(await deps.terminal.readSecret(`Passphrase for ${what}: `), 'the prompt');
  const second = await deps.terminal.readSecret(`Repeat the passphrase for ${what}: `);
  if (first !== second) {
    throw new CliError(
      'passphrase_mismatch',
      'the two passphrases differ; nothing was written',
      'run the command again',
    );
  }
  return first;
}

/** The passphrase of an existing key: from `variable`, or typed once on the terminal. */
export async function existingPassphrase(
  deps: Pick<CliDeps, 'env' | 'terminal'>,
  variable: string,
  what: string,
): Promise<string> {
  const env = fromEnv(deps, variable);
  if (env !== undefined) return env;
  if (!deps.terminal) throw required(variable, what);
  return deps.terminal.readSecret(`Passphrase for ${what}: `);
}

/** An optional passphrase, only from the environment (keys that may also live unencrypted). */
export function optionalPassphrase(deps: Pick<CliDeps, 'env'>, variable: string): string | undefined {
  const env = fromEnv(deps, variable);
  return env === undefined ? undefined : checkStrength(env, variable);
}
