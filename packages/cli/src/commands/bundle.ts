/**
 * Bundles on the technician's laptop, without the service: `request bundle` collects the devices'
 * request files into one bundle signed with the package's bootstrap credential; `bundle verify`
 * checks a bundle against a root or a package; `bundle extract` writes its entries out as single
 * files (a device installs one certified profile). The format is docs/formats.md "Bundles".
 */
import { readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { decodePemAll, fingerprint, formatName, isProvisioError, type ParsedCertificate, parseCertificate, ProvisioError } from '@provisio/pki';
import {
  BUNDLE_TYPES,
  type BundleType,
  createBundle,
  MAX_BUNDLE_BYTES,
  MAX_REQUEST_BYTES,
  openPackage,
  type ParsedBundle,
  parseBundle,
  parsePackage,
  parseProvisioningRequest,
  ProtocolError,
  REQUEST_FILE_EXTENSION,
  verifyBundle,
} from '@provisio/protocol';
import { optionalString, type ParsedArgs, requireString } from '../args.js';
import { COMMON_OPTIONS, type CommandSpec, printJson } from '../command.js';
import { CliError, EXIT, usageError } from '../errors.js';
import { assertCanCreate, ensureDirectory, PUBLIC_MODE, readInputFile, SECRET_MODE, writeFileAtomic, writeFilesAtomic } from '../files.js';
import { BUNDLE_EXTRACT_HELP, BUNDLE_VERIFY_HELP, REQUEST_BUNDLE_HELP } from '../help.js';
import { type CliDeps, styleFor } from '../io.js';

/** A package file is a few KiB; 1 MiB like the device commands. */
const MAX_PACKAGE_INPUT_BYTES = 1024 * 1024;

/** The same error with the file it is about in front of its message. */
function inFile(file: string, e: unknown): unknown {
  return isProvisioError(e) ? new ProvisioError(e.code, e.category, `${file}: ${e.message}`) : e;
}

/** Request files named on the command line; a directory stands for its *.ppr files, sorted. */
function requestFiles(paths: readonly string[]): string[] {
  const files: string[] = [];
  for (const path of paths) {
    let isDirectory = false;
    try {
      isDirectory = statSync(path).isDirectory();
    } catch {
      // readInputFile reports the missing file with its code below
    }
    if (!isDirectory) files.push(path);
    else files.push(...readdirSync(path).filter((n) => n.endsWith(REQUEST_FILE_EXTENSION)).sort().map((n) => join(path, n)));
  }
  return files;
}

async function requestBundle(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const cmd = 'request bundle';
  const packagePath = requireString(args, 'package', cmd);
  const outPath = requireString(args, 'out', cmd);
  if (args.positionals.length === 0) throw usageError(`"provisio ${cmd}" needs request FILEs or a DIRECTORY of them`, `run "provisio ${cmd} --help" for usage`);
  assertCanCreate(outPath);
  const pkg = parsePackage(readInputFile(packagePath, MAX_PACKAGE_INPUT_BYTES));
  const now = deps.clock.now();
  const opened = openPackage(pkg, now);
  const files = requestFiles(args.positionals);
  if (files.length === 0) throw usageError(`no ${REQUEST_FILE_EXTENSION} files in ${args.positionals.join(', ')}`);
  const entries = files.map((file) => {
    const content = readInputFile(file, MAX_REQUEST_BYTES);
    let packageId: string;
    try {
      packageId = parseProvisioningRequest(content).payload.packageId;
    } catch (e) {
      throw inFile(file, e);
    }
    if (packageId !== pkg.packageId) {
      throw new CliError('bundle_package_mismatch', `${file} was made with package ${packageId}, not ${pkg.packageId} of ${packagePath}`, 'bundle the requests of each package separately, each with its own --package');
    }
    return { name: basename(file), content };
  });
  const text = await createBundle({
    type: 'provisio.request-bundle',
    packageId: pkg.packageId,
    createdAt: now,
    entries,
    signer: opened.bootstrapSigner,
    signerChain: opened.bootstrapChain.map((c) => c.der),
  });
  // Requests are public (CSRs and identities, signed); so is a bundle of them.
  writeFileAtomic(outPath, text, PUBLIC_MODE);
  const sha256 = parseBundle(text).contentHash;
  if (args.values.json === true) {
    printJson(deps, { path: outPath, packageId: pkg.packageId, sha256, entries: entries.map((e) => e.name) });
  } else {
    deps.stdout.write(
      `${styleFor(deps.stdout, deps.env).ok('✔')} Request bundle: ${outPath} (${entries.length} request${entries.length === 1 ? '' : 's'}, package ${pkg.packageId}, signed with its bootstrap credential)\n` +
        `  sha256 ${sha256}\nNext: provisio request upload ${outPath}\n`,
    );
  }
  return EXIT.ok;
}

/** The roots to check a bundle against, from --root or --package (exactly one). */
function trustFrom(args: ParsedArgs, command: string): { roots: ParsedCertificate[]; packageFile?: ReturnType<typeof parsePackage>; source: string } {
  const rootPath = optionalString(args, 'root');
  const packagePath = optionalString(args, 'package');
  if ((rootPath === undefined) === (packagePath === undefined)) {
    throw usageError(`"provisio ${command}" needs --root ROOT.crt or --package FILE.ppkg (one of them)`, `run "provisio ${command} --help" for usage`);
  }
  if (rootPath !== undefined) {
    const root = parseCertificate(readInputFile(rootPath, MAX_PACKAGE_INPUT_BYTES));
    return { roots: [root], source: rootPath };
  }
  const pkg = parsePackage(readInputFile(packagePath as string, MAX_PACKAGE_INPUT_BYTES));
  return { roots: [parseCertificate(pkg.rootOfTrust)], packageFile: pkg, source: packagePath as string };
}

/**
 * Parses and verifies a bundle file against --root or --package. With --package, a request bundle
 * must also be signed by that package's own bootstrap credential.
 */
function openBundle(deps: CliDeps, args: ParsedArgs, path: string, command: string): ParsedBundle {
  const trust = trustFrom(args, command);
  const bundle = parseBundle(readInputFile(path, MAX_BUNDLE_BYTES));
  verifyBundle(bundle, { roots: trust.roots, at: deps.clock.now() });
  const pkg = trust.packageFile;
  if (pkg && bundle.manifest.type === 'provisio.request-bundle') {
    const bootstrap = decodePemAll(pkg.bootstrap.certificateChain)[0];
    if (bundle.manifest.packageId !== pkg.packageId || !bootstrap || bundle.signerChain[0]?.fingerprint !== fingerprint(bootstrap.der)) {
      throw new ProtocolError('bundle_untrusted', `the bundle was signed with package ${bundle.manifest.packageId ?? '-'}, not with ${pkg.packageId} of ${trust.source}`);
    }
  }
  return bundle;
}

function bundleSummary(bundle: ParsedBundle) {
  const signer = bundle.signerChain[0] as ParsedCertificate;
  return {
    type: bundle.manifest.type,
    packageId: bundle.manifest.packageId,
    createdAt: bundle.manifest.createdAt,
    signer: formatName(signer.subject),
    sha256: bundle.contentHash,
    entries: bundle.entries.map((e) => ({ name: e.name, size: e.size, sha256: e.sha256 })),
  };
}

function kind(type: BundleType): string {
  return type === 'provisio.request-bundle' ? 'request bundle' : 'profile bundle';
}

async function bundleVerify(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const path = args.positionals[0];
  if (!path) throw usageError('"provisio bundle verify" needs a bundle FILE', 'run "provisio bundle verify --help" for usage');
  const bundle = openBundle(deps, args, path, 'bundle verify');
  const summary = bundleSummary(bundle);
  if (args.values.json === true) {
    printJson(deps, { ok: true, ...summary });
    return EXIT.ok;
  }
  const width = Math.max(4, ...summary.entries.map((e) => e.name.length));
  deps.stdout.write(
    `type        ${kind(summary.type)}${summary.packageId ? ` of package ${summary.packageId}` : ''}\n` +
      `created     ${summary.createdAt}\nsigned by   ${summary.signer} (${BUNDLE_TYPES[summary.type].signer})\nsha256      ${summary.sha256}\n` +
      `${'NAME'.padEnd(width)}  ${'SIZE'.padStart(6)}  SHA-256\n` +
      summary.entries.map((e) => `${e.name.padEnd(width)}  ${String(e.size).padStart(6)}  ${e.sha256}\n`).join('') +
      `${styleFor(deps.stdout, deps.env).ok('✔')} bundle OK: ${summary.entries.length} entr${summary.entries.length === 1 ? 'y' : 'ies'}, signature and every SHA-256 verified against ${optionalString(args, 'root') ?? optionalString(args, 'package')}\n`,
  );
  return EXIT.ok;
}

async function bundleExtract(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const path = args.positionals[0];
  if (!path) throw usageError('"provisio bundle extract" needs a bundle FILE', 'run "provisio bundle extract --help" for usage');
  const dir = requireString(args, 'dir', 'bundle extract');
  const bundle = openBundle(deps, args, path, 'bundle extract');
  ensureDirectory(dir);
  // Profiles are written 0600 like "profile download"; requests are public.
  const mode = bundle.manifest.type === 'provisio.profile-bundle' ? SECRET_MODE : PUBLIC_MODE;
  const files = bundle.entries.map((e) => ({ path: join(dir, e.name), data: e.content, mode }));
  writeFilesAtomic(files);
  if (args.values.json === true) {
    printJson(deps, { ok: true, dir, files: files.map((f) => f.path) });
    return EXIT.ok;
  }
  deps.stdout.write(
    `${styleFor(deps.stdout, deps.env).ok('✔')} ${files.length} file${files.length === 1 ? '' : 's'} from the verified ${kind(bundle.manifest.type)} in ${dir}\n` +
      files.map((f) => `  ${f.path}\n`).join('') +
      (bundle.manifest.type === 'provisio.profile-bundle' ? `Next, on each device: provisio device install --dir KEYSTORE ${join(dir, 'DEVICE.pcp')}\n` : ''),
  );
  return EXIT.ok;
}

const str = { type: 'string' } as const;

export const BUNDLE_COMMANDS: readonly CommandSpec[] = [
  { path: 'request bundle', help: REQUEST_BUNDLE_HELP, options: { ...COMMON_OPTIONS, package: str, out: str }, maxPositionals: 10_000, run: requestBundle },
  { path: 'bundle verify', help: BUNDLE_VERIFY_HELP, options: { ...COMMON_OPTIONS, root: str, package: str }, maxPositionals: 1, run: bundleVerify },
  { path: 'bundle extract', help: BUNDLE_EXTRACT_HELP, options: { ...COMMON_OPTIONS, root: str, package: str, dir: str }, maxPositionals: 1, run: bundleExtract },
];
