import type { OptionsConfig, ParsedArgs } from './args.js';
import type { CliDeps } from './io.js';

/** One `provisio` command: its flags, its help, and what it does. Returns the exit code. */
export interface CommandSpec {
  /** Full command path without the program name, e.g. `ca init-root`. */
  readonly path: string;
  readonly help: string;
  readonly options: OptionsConfig;
  readonly maxPositionals: number;
  run(deps: CliDeps, args: ParsedArgs): Promise<number>;
}

/** Flags every command takes. */
export const COMMON_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
} as const satisfies OptionsConfig;

export function printJson(deps: Pick<CliDeps, 'stdout'>, value: unknown): void {
  deps.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
