#!/usr/bin/env node
// `npm test`: install the Debian tools the tests drive when they are missing, build, then run
// every *.test.ts in the workspace with node's test runner (one runner for all packages).
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDebianTools } from './debian-tools.mjs';

ensureDebianTools();
// Build (the CLI tests run the built binary) and type-check the tests themselves.
const tsc = (...args) => execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', ...args], { stdio: 'inherit' });
tsc('-b', 'tsconfig.json');
tsc('-p', 'tsconfig.test.json');
// The admin web UI: type-checked with the DOM's types, built by Vite (the browser tests load the build).
tsc('-p', 'packages/web/tsconfig.json');
execFileSync(process.execPath, ['../../node_modules/vite/bin/vite.js', 'build', '--logLevel', 'warn'], { stdio: 'inherit', cwd: 'packages/web' });

function findTests(dir, out = []) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) findTests(path, out);
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

const filter = process.argv.slice(2);
const files = findTests('packages')
  .concat(findTests('bench'))
  .filter((f) => filter.length === 0 || filter.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ['--conditions=source', '--import', 'tsx', '--test', '--test-concurrency=2', ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
