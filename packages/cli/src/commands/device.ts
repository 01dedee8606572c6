/**
 * The device side of provisioning (docs/device.md): `device init`, `device install`,
 * `device show` run on the device and never talk to a server: files travel on a USB stick
 * (disconnected delivery). `device provision` and `device run` (the agent) talk to the service
 * (connected delivery) through the SDK's one step machine and print its steps the same way. The work is the device SDK's; this file reads the input files, writes
 * the optional request copy and tells the technician what happened and what to do next.
 */
import {
  type CheckInResult,
  type CheckInTelemetry,
  appendDeviceAudit,
  checkInAtStation,
  deviceDatabaseKey,
  type DeviceAuditEntry,
  DeviceError,
  directoryMode,
  enrollWithToken,
  fileState,
  keystorePath,
  openDeviceDatabase,
  listDeviceAudit,
  FILE_MODE,
  pairDevice,
  type HeartbeatEvent,
  heartbeatAtStation,
  initDevice,
  installProfile,
  loadIdentity,
  provisionConnected,
  type ProvisionProgress,
  type RenewalLoopEvent,
  renewConnected,
  reprovisionConnected,
  renewWhenDue,
  runAgent,
  type SecretEnrollResult,
  showDevice,
} from '@provisio/device';
import { parsePackage } from '@provisio/protocol';
import { describePublicKey, formatName, isProvisioError, type KeyType } from '@provisio/pki';
import { integerFlag, isSet, keyTypeFlag, optionalString, type ParsedArgs, requireString } from '../args.js';
import { COMMON_OPTIONS, type CommandSpec, printJson } from '../command.js';
import { printError, warn } from '../diagnostics.js';
import { CliError, EXIT, exitCodeFor, usageError } from '../errors.js';
import { assertCanCreate, formatMode, PUBLIC_MODE, readInputFile, writeFileAtomic } from '../files.js';
import { describeValidity, fieldLines, shellQuote } from '../format-text.js';
import {
  DEVICE_AUDIT_HELP, DEVICE_CHECK_IN_HELP, DEVICE_DB_KEY_HELP, DEVICE_ENROLL_HELP, DEVICE_INIT_HELP, DEVICE_INSTALL_HELP, DEVICE_PAIR_HELP,
  DEVICE_PROVISION_HELP, DEVICE_RENEW_HELP, DEVICE_REPROVISION_HELP, DEVICE_RUN_HELP, DEVICE_SHOW_HELP,
} from '../help.js';
import { type CliDeps, styleFor } from '../io.js';

/**
 * 1 MiB: a package or profile is a few KiB (certificates and a key); the protocol parsers apply
 * their own, tighter limits.
 */
const MAX_DEVICE_INPUT_BYTES = 1024 * 1024;

/**
 * Hints for codes the device commands meet from the protocol and the PKI core (what a technician
 * can do about each). Device SDK errors carry their own hint.
 */
const HINTS: Readonly<Record<string, string>> = {
  package_expired: 'ask the manufacturer for a current provisioning package',
  package_untrusted: 'the package file is not genuine or was altered; get it again from the service',
  package_malformed: 'the file is damaged or not a provisioning package; copy it again',
  package_version_unsupported: 'this provisio is older than the package format; update it',
  cp_malformed: 'the file is damaged or not a certified profile; download it again',
  cp_version_unsupported: 'this provisio is older than the profile format; update it',
  cp_signature_invalid: 'the profile was altered or damaged; download it again from the service',
  cp_untrusted: 'the profile was not issued under this device\'s package root; never install it',
  cp_wrong_device: 'this profile is for another device; fetch the one issued for this device',
  cp_wrong_key: 'this profile is for another key of this device (an older request?); fetch the newest one',
  cp_expired: 'the certificate is expired or not valid yet; check the device clock, or request a new profile',
  identity_invalid: 'check --id, --label, --serial and --firmware (run "provisio device init --help")',
};

/**
 * Prints the hint of a device SDK or protocol error after the usual error line. diagnostics.ts
 * prints hints only for the CLI's own errors; the device commands know more about these codes.
 */
function withHints(run: CommandSpec['run']): CommandSpec['run'] {
  return async (deps, args) => {
    try {
      return await run(deps, args);
    } catch (e) {
      if (!isProvisioError(e) || e instanceof CliError) throw e;
      const hint = e instanceof DeviceError ? e.hint : HINTS[e.code];
      if (hint === undefined) throw e;
      printError(deps, e);
      deps.stderr.write(`provisio: hint: ${hint}\n`);
      return exitCodeFor(e);
    }
  };
}

const KEY_NAMES: Readonly<Record<KeyType, string>> = { p256: 'ECDSA P-256', p384: 'ECDSA P-384', rsa3072: 'RSA 3072' };

function tick(deps: CliDeps): string {
  return styleFor(deps.stdout, deps.env).ok('✔');
}

function readText(path: string): string {
  return readInputFile(path, MAX_DEVICE_INPUT_BYTES).toString('utf8');
}

// ---------------------------------------------------------------------------------------------
// device init

async function init(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const cmd = 'device init';
  const packagePath = requireString(args, 'package', cmd);
  const component = requireString(args, 'component', cmd);
  const deviceId = requireString(args, 'id', cmd);
  const deviceLabel = requireString(args, 'label', cmd);
  const dir = requireString(args, 'dir', cmd);
  const outPath = optionalString(args, 'out');
  const hardwareSerial = optionalString(args, 'serial');
  const firmwareVersion = optionalString(args, 'firmware');
  // No default here: the package's key template decides when the flag is absent.
  const keyType: KeyType | undefined = args.values['key-type'] === undefined ? undefined : keyTypeFlag(args, cmd);
  if (outPath !== undefined) assertCanCreate(outPath);
  const packageText = readText(packagePath);

  const result = await initDevice(
    { clock: deps.clock, random: deps.random },
    {
      packageText,
      component,
      deviceId,
      deviceLabel,
      dir,
      ...(hardwareSerial === undefined ? {} : { hardwareSerial }),
      ...(firmwareVersion === undefined ? {} : { firmwareVersion }),
      ...(keyType === undefined ? {} : { keyType }),
      reset: isSet(args, 'reset'),
    },
  );
  // The request is public (a CSR and identity, signed); its copy on the USB stick is 0644.
  if (outPath !== undefined) writeFileAtomic(outPath, result.requestText, PUBLIC_MODE);

  const { identity } = result;
  const requestFile = outPath ?? result.requestPath;
  if (isSet(args, 'json')) {
    printJson(deps, {
      state: identity.state,
      deviceId: identity.deviceId,
      deviceLabel: identity.deviceLabel,
      system: identity.system,
      component: identity.component,
      packageId: identity.packageId,
      hardwareSerial: identity.hardwareSerial,
      firmwareVersion: identity.firmwareVersion,
      mock: identity.mock,
      key: { path: result.keyPath, mode: formatMode(FILE_MODE), type: identity.keyType, sha256: identity.publicKeySha256 },
      request: {
        path: result.requestPath,
        mode: formatMode(FILE_MODE),
        copy: outPath === undefined ? null : { path: outPath, mode: formatMode(PUBLIC_MODE) },
        expiresAt: identity.requestExpiresAt,
      },
      keystore: { dir, rootSha256: identity.rootSha256 },
      replaced: result.replaced,
    });
  } else {
    const ok = tick(deps);
    deps.stdout.write(
      [
        `${ok} Device key: ${result.keyPath} (mode ${formatMode(FILE_MODE)}, never leaves this device)`,
        `${ok} Provisioning request: ${requestFile}`,
        ...(outPath === undefined ? [] : [`  (also kept in the keystore: ${result.requestPath})`]),
        ...fieldLines([
          ['device', `${identity.deviceId} (${identity.deviceLabel})`],
          ['system', `${identity.system} / ${identity.component}`],
          ['key', KEY_NAMES[identity.keyType]],
          ['key SHA-256', identity.publicKeySha256],
          // From createdAt (whole seconds, like expiresAt), so a 7-day request reads "7 d".
          ['expires', `${identity.requestExpiresAt} (${describeValidity(new Date(identity.createdAt), result.requestExpiresAt, new Date(identity.createdAt))})`],
        ]),
        '',
        `Delete the provisioning package from this device now: ${packagePath}`,
        'Next, on a connected machine, upload the request:',
        `  provisio request upload ${shellQuote(requestFile)}`,
        'then bring the certified profile back to this device and run:',
        `  provisio device install --dir ${shellQuote(dir)} ${shellQuote(`${identity.deviceId}.pcp`)}`,
        '',
      ].join('\n'),
    );
  }
  if (result.replaced) warn(deps, `the previous identity in ${dir} was destroyed; revoke its certificate on the server`);
  warn(
    deps,
    `delete ${packagePath} from this device: the package's bootstrap credential can sign requests for any device of system "${identity.system}"`,
  );
  return EXIT.ok;
}

// ---------------------------------------------------------------------------------------------
// device install

async function install(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const cmd = 'device install';
  const dir = requireString(args, 'dir', cmd);
  const profilePath = args.positionals[0];
  if (profilePath === undefined) {
    throw usageError('"provisio device install" needs the certified profile file', `run "provisio ${cmd} --help" for usage`);
  }
  // The bytes exactly as they arrived: install.json records their SHA-256.
  const profileText = readInputFile(profilePath, MAX_DEVICE_INPUT_BYTES);
  const result = await installProfile({ clock: deps.clock }, { dir, profileText });

  const { certificate, identity, install: record, paths } = result;
  const config = result.profile.payload.config;
  const now = deps.clock.now();
  if (isSet(args, 'json')) {
    printJson(deps, {
      changed: result.changed,
      replaced: result.replaced,
      state: identity.state,
      deviceId: identity.deviceId,
      deviceLabel: result.profile.payload.deviceLabel,
      system: identity.system,
      component: identity.component,
      requestId: record.requestId,
      serial: record.serial,
      notBefore: record.notBefore,
      notAfter: record.notAfter,
      issuer: formatName(certificate.issuer),
      profileSha256: record.profileSha256,
      installedAt: record.installedAt,
      verifiedAgainst: { path: paths.root, sha256: identity.rootSha256 },
      config,
      files: {
        certificate: { path: paths.certificate, mode: formatMode(FILE_MODE) },
        profile: { path: paths.profile, mode: formatMode(FILE_MODE) },
        install: { path: paths.install, mode: formatMode(FILE_MODE) },
      },
    });
    return EXIT.ok;
  }
  const ok = tick(deps);
  const head = result.changed
    ? [
        `${ok} Certificate: ${paths.certificate} (device + issuing CA, mode ${formatMode(FILE_MODE)})`,
        `${ok} Certified profile: ${paths.profile} (mode ${formatMode(FILE_MODE)})`,
      ]
    : [`${ok} Already installed: ${paths.profile} (nothing changed)`];
  deps.stdout.write(
    [
      ...head,
      ...fieldLines([
        ['device', `${identity.deviceId} (${result.profile.payload.deviceLabel})`],
        ['system', `${identity.system} / ${identity.component}`],
        ['key', describePublicKey(certificate.publicKey)],
        ['serial', record.serial],
        ['valid from', record.notBefore],
        ['valid to', `${record.notAfter} (${describeValidity(certificate.notBefore, certificate.notAfter, now)})`],
        ['issuer', formatName(certificate.issuer)],
        ['service', config.serviceUrl],
        ['request', record.requestId],
        ['verified', `against ${paths.root} (the package's root of trust)`],
      ]),
      '',
      ...(result.changed
        ? [
            'Next, on the connected machine, mark the device provisioned:',
            `  provisio device complete ${shellQuote(identity.deviceId)}`,
            '',
          ]
        : []),
    ].join('\n'),
  );
  if (result.replaced && result.changed) warn(deps, 'a previously installed profile was replaced by this newer one');
  return EXIT.ok;
}

// ---------------------------------------------------------------------------------------------
// connected delivery: the steps as a person follows them (device provision and device run)

/** Key and request, submitted, approved (profile received), installed, confirmed. */
const STEPS = 5;

/**
 * Prints the SDK's progress events as numbered steps. Step 1 (the key and request) is printed by
 * the command itself; a resumed run says where it picks up.
 */
function stepPrinter(say: (line: string) => void, ok: string, dir: string, serviceUrl: string): (e: ProvisionProgress) => void {
  let announcedWaiting: string | null = null;
  return (e) => {
    switch (e.step) {
      case 'resumed':
        if (e.from === 'submitted') say(`${ok} 2/${STEPS} Request already submitted as ${e.requestId ?? '?'}; waiting for its decision`);
        else if (e.from === 'installed') say(`${ok} 4/${STEPS} Profile installed before (request ${e.requestId ?? '?'}); confirming it`);
        return;
      case 'submitted':
        say(`${ok} 2/${STEPS} Request submitted to ${serviceUrl} as ${e.requestId}${e.created ? '' : ' (already known to the service)'}`);
        return;
      case 'waiting':
        if (announcedWaiting !== e.requestId) {
          announcedWaiting = e.requestId;
          say(`… Waiting for approval (pending); an approver runs: provisio request approve ${e.requestId}`);
        }
        return;
      case 'retrying':
        say(`… ${e.reason}; retrying in ${Math.ceil(e.retryInMs / 1000)} s`);
        return;
      case 'fetched':
        say(`${ok} 3/${STEPS} Approved: certified profile received for ${e.requestId}`);
        return;
      case 'installed':
        say(e.changed
          ? `${ok} 4/${STEPS} Profile verified against ${dir}/root.crt and installed: ${dir}/certificate.pem (serial ${e.serial})`
          : `${ok} 4/${STEPS} Profile already installed: ${dir}/profile.pcp (nothing changed)`);
        return;
      case 'confirmed':
        say(`${ok} 5/${STEPS} Mutual TLS with the new certificate: the service marked ${e.deviceId} ${e.state}`);
        return;
    }
  };
}

// ---------------------------------------------------------------------------------------------
// device provision (connected delivery)

/** True when `dir` already holds a complete identity (init ran before, e.g. before a restart). */
function hasCompleteIdentity(dir: string): boolean {
  try {
    loadIdentity(dir);
    return true;
  } catch (e) {
    if (e instanceof DeviceError && e.code === 'keystore_not_found') return false;
    throw e;
  }
}

async function provision(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const cmd = 'device provision';
  const packagePath = requireString(args, 'package', cmd);
  const component = requireString(args, 'component', cmd);
  const deviceId = requireString(args, 'id', cmd);
  const deviceLabel = requireString(args, 'label', cmd);
  const dir = requireString(args, 'dir', cmd);
  const hardwareSerial = optionalString(args, 'serial');
  const firmwareVersion = optionalString(args, 'firmware');
  const keyType: KeyType | undefined = args.values['key-type'] === undefined ? undefined : keyTypeFlag(args, cmd);
  const waitSeconds = integerFlag(args, 'wait', 900, 1, 604_800, cmd);
  const packageText = readText(packagePath);
  const serviceUrl = optionalString(args, 'url') ?? parsePackage(packageText).serviceUrl;
  const json = isSet(args, 'json');
  const ok = tick(deps);
  const say = (line: string) => {
    if (!json) deps.stdout.write(`${line}\n`);
  };

  let generated = false;
  if (hasCompleteIdentity(dir)) {
    const identity = loadIdentity(dir);
    if (identity.deviceId !== deviceId) {
      throw usageError(`${dir} holds the identity of device "${identity.deviceId}", not "${deviceId}"`, 'use another --dir, or "provisio device init --reset" to replace it');
    }
    say(`${ok} 1/${STEPS} Key and request already in ${dir} (device ${identity.deviceId}); resuming`);
  } else {
    const result = await initDevice(
      { clock: deps.clock, random: deps.random },
      {
        packageText,
        component,
        deviceId,
        deviceLabel,
        dir,
        ...(hardwareSerial === undefined ? {} : { hardwareSerial }),
        ...(firmwareVersion === undefined ? {} : { firmwareVersion }),
        ...(keyType === undefined ? {} : { keyType }),
      },
    );
    generated = true;
    say(`${ok} 1/${STEPS} Key generated: ${result.keyPath} (${KEY_NAMES[result.identity.keyType]}, never leaves this device)`);
  }

  const result = await provisionConnected(
    { clock: deps.clock, random: deps.random },
    { dir, serviceUrl, maxWaitMs: waitSeconds * 1000, onProgress: stepPrinter(say, ok, dir, serviceUrl) },
  );
  const { install: record, identity, paths } = result;
  // Test the connection with the new identity (seed 003 step 5): a refusal fails the command.
  const stationUrl = optionalString(args, 'station');
  const checkIn = stationUrl === undefined ? null : await checkInAtStation({}, { dir, stationUrl, telemetry: initTelemetry(dir) });
  if (stationUrl !== undefined && checkIn) say(checkInLine(ok, stationUrl, checkIn));
  if (json) {
    printJson(deps, {
      state: identity.state,
      deviceId: identity.deviceId,
      system: identity.system,
      component: identity.component,
      requestId: result.requestId,
      keyGenerated: generated,
      changed: result.changed,
      serial: record.serial,
      notBefore: record.notBefore,
      notAfter: record.notAfter,
      profileSha256: record.profileSha256,
      confirmed: result.confirmed,
      confirmedAt: record.confirmedAt ?? null,
      serviceUrl,
      checkIn,
      files: { certificate: paths.certificate, profile: paths.profile, install: paths.install },
    });
    return EXIT.ok;
  }
  say(
    [
      ...fieldLines([
        ['device', `${identity.deviceId} (${result.profile.payload.deviceLabel})`],
        ['system', `${identity.system} / ${identity.component}`],
        ['serial', record.serial],
        ['valid to', `${record.notAfter} (${describeValidity(result.certificate.notBefore, result.certificate.notAfter, deps.clock.now())})`],
        ['request', result.requestId],
      ]),
      ...(result.serviceState === null
        ? [`${ok} Already confirmed over mutual TLS at ${record.confirmedAt ?? '?'}: the service holds ${identity.deviceId} provisioned`]
        : []),
    ].join('\n'),
  );
  if (generated) {
    warn(deps, `delete ${packagePath} from this device: the package's bootstrap credential can sign requests for any device of system "${identity.system}"`);
  }
  return EXIT.ok;
}

// ---------------------------------------------------------------------------------------------
// device run (the long-running agent)

async function run(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const cmd = 'device run';
  const dir = requireString(args, 'dir', cmd);
  const identity = loadIdentity(dir);
  const serviceUrl = optionalString(args, 'url') ?? identity.serviceUrl;
  if (serviceUrl === undefined) {
    throw usageError(`${dir} does not record the service URL (made by an older provisio)`, `pass it: provisio ${cmd} --dir ${shellQuote(dir)} --url https://HOST:PORT`);
  }
  const stationUrl = optionalString(args, 'station');
  const heartbeatSeconds = integerFlag(args, 'heartbeat', 300, 10, 86_400, cmd);
  const ok = tick(deps);
  const say = (line: string) => deps.stdout.write(`${line}\n`);
  const stop = new AbortController();
  const onSignal = (name: string) => () => {
    say(`… ${name}: stopping; run "provisio ${cmd} --dir ${dir}" again to resume where it stopped`);
    stop.abort(new Error(name));
  };
  const onInt = onSignal('SIGINT');
  const onTerm = onSignal('SIGTERM');
  process.once('SIGINT', onInt);
  process.once('SIGTERM', onTerm);
  try {
    say(`${ok} 1/${STEPS} Key and request in ${dir} (device ${identity.deviceId}); service ${serviceUrl}`);
    const result = await runAgent(
      { clock: deps.clock, random: deps.random },
      {
        dir,
        serviceUrl,
        signal: stop.signal,
        onProgress: stepPrinter(say, ok, dir, serviceUrl),
        whileProvisioned: async (p, signal) => {
          say(`${ok} Provisioned: ${p.identity.deviceId}, serial ${p.install.serial}, valid to ${p.install.notAfter}; agent running (stop with Ctrl-C or SIGTERM)`);
          await Promise.all([
            renewWhenDue({ clock: deps.clock, random: deps.random }, { dir, serviceUrl, signal, onEvent: renewalPrinter(say, ok) }),
            ...(stationUrl === undefined
              ? []
              : [heartbeatAtStation(
                  { clock: deps.clock, random: deps.random },
                  {
                    dir,
                    stationUrl,
                    serviceUrl,
                    intervalMs: heartbeatSeconds * 1000,
                    signal,
                    telemetry: () => initTelemetry(dir),
                    onEvent: heartbeatPrinter(say, ok, stationUrl, dir, serviceUrl),
                  },
                )]),
          ]);
        },
      },
    );
    say(result.provisioned ? `${ok} Agent stopped (provisioned)` : '… Agent stopped before provisioning completed; its progress is kept in the keystore');
    return EXIT.ok;
  } finally {
    process.removeListener('SIGINT', onInt);
    process.removeListener('SIGTERM', onTerm);
  }
}

/** The agent's check-ins at the central station and the reprovisionings they bring, one line each. */
function heartbeatPrinter(say: (line: string) => void, ok: string, stationUrl: string, dir: string, serviceUrl: string): (e: HeartbeatEvent) => void {
  const steps = stepPrinter(say, ok, dir, serviceUrl);
  return (e) => {
    switch (e.step) {
      case 'checked-in':
        say(checkInLine(ok, stationUrl, e.result));
        return;
      case 'check-in-failed':
        say(`✘ Check-in at ${stationUrl} failed: ${e.reason}; next try in ${Math.round(e.retryInMs / 1000)} s`);
        return;
      case 'reprovision-asked':
        say(`… The service asks for a reprovisioning (asked at ${e.requestedAt}); reprovisioning now`);
        return;
      case 'reprovision-submitted':
        say(`${ok} Reprovisioning request ${e.requestId} sent over mutual TLS (${e.state})`);
        return;
      case 'reprovision-waiting':
        return;
      case 'reprovisioned':
        say(`${ok} Reprovisioned: serial ${e.result.previousSerial} → ${e.result.confirmed.install.serial}, valid to ${e.result.confirmed.install.notAfter} (request ${e.result.requestId})`);
        return;
      case 'reprovision-failed':
        say(`✘ Reprovisioning failed: ${e.reason}; next try at the next check-in in ${Math.round(e.retryInMs / 1000)} s`);
        return;
      default:
        steps(e);
    }
  };
}

/** The agent's renewal events, one line each (docs/lifecycle.md "The agent"). */
function renewalPrinter(say: (line: string) => void, ok: string): (e: RenewalLoopEvent) => void {
  return (e) => {
    switch (e.step) {
      case 'renewal-scheduled':
        say(`… Certificate ${e.serial}: renewal due at ${e.at.toISOString()}`);
        return;
      case 'requesting':
        say(`… Renewing certificate ${e.serial}${e.rekey ? ' with a new key' : ''}`);
        return;
      case 'renewal-failed':
        say(`… Renewal failed: ${e.reason}; retrying in ${Math.ceil(e.retryInMs / 1000)} s`);
        return;
      case 'renewed':
        say(`${ok} Renewed: serial ${e.previousSerial} → ${e.serial}, valid to ${e.notAfter}`);
        return;
      default:
        return;
    }
  };
}

// ---------------------------------------------------------------------------------------------
// device renew (by hand)

const RENEW_STEPS = 3;

async function renew(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const cmd = 'device renew';
  const dir = requireString(args, 'dir', cmd);
  const identity = loadIdentity(dir);
  const serviceUrl = optionalString(args, 'url') ?? identity.serviceUrl;
  if (serviceUrl === undefined) {
    throw usageError(`${dir} does not record the service URL (made by an older provisio)`, `pass it: provisio ${cmd} --dir ${shellQuote(dir)} --url https://HOST:PORT`);
  }
  const rekey = isSet(args, 'rekey');
  const json = isSet(args, 'json');
  const ok = tick(deps);
  const say = (line: string) => {
    if (!json) deps.stdout.write(`${line}\n`);
  };
  const result = await renewConnected(
    { clock: deps.clock, random: deps.random },
    {
      dir,
      serviceUrl,
      rekey,
      onProgress: (e) => {
        if (e.step === 'requesting') {
          say(`${ok} 1/${RENEW_STEPS} Renewal request for certificate ${e.serial} signed with the current key${e.rekey ? `; new key generated in ${dir}/renewal.key` : ''}; sent over mutual TLS`);
        } else if (e.step === 'retrying') {
          say(`… ${e.reason}; retrying in ${Math.ceil(e.retryInMs / 1000)} s`);
        } else if (e.step === 'issued') {
          say(`${ok} 2/${RENEW_STEPS} New certificate ${e.serial} issued (${e.requestId}), verified against ${dir}/root.crt and installed${rekey ? ' with the new key' : ''}`);
        } else if (e.step === 'confirmed') {
          say(`${ok} 3/${RENEW_STEPS} Mutual TLS with the new certificate: the service holds ${e.deviceId} ${e.state}`);
        }
      },
    },
  );
  const record = result.confirmed.install;
  if (json) {
    printJson(deps, {
      deviceId: identity.deviceId,
      previousSerial: result.previousSerial,
      serial: record.serial,
      notBefore: record.notBefore,
      notAfter: record.notAfter,
      requestId: result.requestId,
      rekey: result.rekey,
      confirmedAt: record.confirmedAt ?? null,
    });
    return EXIT.ok;
  }
  say(fieldLines([
    ['device', identity.deviceId],
    ['serial', `${record.serial} (was ${result.previousSerial})`],
    ['valid to', record.notAfter],
    ['old certificate', rekey ? 'revoked by the service (superseded)' : 'left to expire (same key)'],
  ]).join('\n'));
  return EXIT.ok;
}

// ---------------------------------------------------------------------------------------------
// device reprovision

async function reprovision(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const cmd = 'device reprovision';
  const dir = requireString(args, 'dir', cmd);
  const identity = loadIdentity(dir);
  const serviceUrl = optionalString(args, 'url') ?? identity.serviceUrl;
  if (serviceUrl === undefined) {
    throw usageError(`${dir} does not record the service URL (made by an older provisio)`, `pass it: provisio ${cmd} --dir ${shellQuote(dir)} --url https://HOST:PORT`);
  }
  const waitSeconds = integerFlag(args, 'wait', 900, 1, 604_800, cmd);
  const json = isSet(args, 'json');
  const ok = tick(deps);
  const say = (line: string) => {
    if (!json) deps.stdout.write(`${line}\n`);
  };
  let announced = false;
  const result = await reprovisionConnected(
    { clock: deps.clock, random: deps.random },
    {
      dir,
      serviceUrl,
      maxWaitMs: waitSeconds * 1000,
      onProgress: (e) => {
        if (e.step === 'reprovision-submitted') {
          say(`${ok} 1/4 Reprovisioning request sent over mutual TLS with the current certificate: ${e.requestId} (${e.state})`);
        } else if (e.step === 'reprovision-waiting' && !announced) {
          announced = true;
          say(`… Waiting for approval (pending); an approver runs: provisio request approve ${e.requestId}`);
        } else if (e.step === 'installed') {
          say(`${ok} 2/4 Approved: new profile verified against ${dir}/root.crt and installed (serial ${e.serial})`);
        } else if (e.step === 'confirmed') {
          say(`${ok} 3/4 Mutual TLS with the new certificate: the service holds ${e.deviceId} ${e.state}`);
        }
      },
    },
  );
  const record = result.confirmed.install;
  if (json) {
    printJson(deps, {
      deviceId: identity.deviceId,
      requestId: result.requestId,
      previousSerial: result.previousSerial,
      serial: record.serial,
      notAfter: record.notAfter,
      confirmedAt: record.confirmedAt ?? null,
    });
    return EXIT.ok;
  }
  say(`${ok} 4/4 Reprovisioned: ${identity.deviceId}, serial ${result.previousSerial} → ${record.serial}, valid to ${record.notAfter}`);
  return EXIT.ok;
}

// ---------------------------------------------------------------------------------------------
// device show

async function show(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const dir = requireString(args, 'dir', 'device show');
  const report = showDevice({ clock: deps.clock }, { dir });
  if (isSet(args, 'json')) {
    printJson(deps, {
      ...report,
      dirMode: report.dirMode === null ? null : formatMode(report.dirMode),
      files: report.files.map((f) => ({
        name: f.name,
        path: f.path,
        present: f.present,
        mode: f.mode === null ? null : formatMode(f.mode),
        expectedMode: formatMode(f.expectedMode),
      })),
    });
  } else {
    const now = deps.clock.now();
    const cert = report.certificate;
    const width = Math.max(...report.files.map((f) => f.name.length)) + 2;
    deps.stdout.write(
      [
        `Device ${report.deviceId} (${report.deviceLabel})`,
        ...fieldLines([
          ['state', report.state === 'installed' ? 'installed' : 'requested (waiting for a certified profile)'],
          ['system', `${report.system} / ${report.component}`],
          ['package', report.packageId],
          ['hardware serial', report.hardwareSerial],
          ['firmware', report.firmwareVersion],
          ['mock', report.mock ? 'yes: test device files, not device-locked' : null],
          ['key', KEY_NAMES[report.keyType]],
          ['key SHA-256', report.publicKeySha256],
          ['root SHA-256', report.rootSha256],
          ['created', report.createdAt],
          [
            'request',
            `expires ${report.request.expiresAt}${report.request.expired ? ' (expired)' : ''}`,
          ],
          ['serial', cert?.serial ?? null],
          [
            'valid to',
            cert ? `${cert.notAfter} (${describeValidity(new Date(cert.notBefore), new Date(cert.notAfter), now)})` : null,
          ],
          ['request id', cert?.requestId ?? null],
          ['installed', cert?.installedAt ?? null],
        ]),
        `Files in ${dir}${report.dirMode === null ? '' : ` (mode ${formatMode(report.dirMode)})`}:`,
        ...report.files.map((f) =>
          `  ${f.name.padEnd(width)}${f.present && f.mode !== null ? formatMode(f.mode) : '-'}`),
        '',
      ].join('\n'),
    );
  }
  for (const problem of report.problems) warn(deps, problem);
  return EXIT.ok;
}

// ---------------------------------------------------------------------------------------------
// device audit, device db-key

function requireKeystore(dir: string): void {
  if (directoryMode(dir) === null) {
    throw new DeviceError('keystore_not_found', `${dir} does not exist`, 'check --dir: it is the keystore directory given to "provisio device init"');
  }
}

function auditLine(e: DeviceAuditEntry): string {
  const details = Object.entries(e.details).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return `${String(e.seq).padStart(5)}  ${e.at}  ${e.event.padEnd(22)} ${details.join(' ')}`.trimEnd();
}

/** `device audit`: the device's own security audit log, checked entry by entry (--verify: the verdict only). */
async function audit(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const dir = requireString(args, 'dir', 'device audit');
  requireKeystore(dir);
  // Entries up to the first broken one are still listed: they are the ones that verify.
  const { entries, verification } = listDeviceAudit(dir);
  const onlyVerify = isSet(args, 'verify');
  const json = isSet(args, 'json');
  if (json) {
    printJson(deps, { file: keystorePath(dir, 'auditLog'), ...verification, ...(onlyVerify ? {} : { list: entries }) });
  } else {
    if (!onlyVerify) deps.stdout.write(entries.map((e) => `${auditLine(e)}\n`).join(''));
    if (verification.ok) {
      const head = verification.head;
      deps.stdout.write(`${tick(deps)} ${keystorePath(dir, 'auditLog')}: ${verification.entries} entries, chain intact${head ? ` (head ${head.seq} ${head.hash})` : ''}\n`);
    }
  }
  if (!verification.ok && verification.broken) {
    const b = verification.broken;
    throw new DeviceError('device_audit_broken', `${b.finding} at line ${b.line}: ${b.message}`, 'the log was altered or damaged after it was written; keep a copy as evidence and investigate the device');
  }
  return EXIT.ok;
}

/** `device db-key`: the device database's key, for the sqlcipher shell and other tools. */
async function dbKey(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const dir = requireString(args, 'dir', 'device db-key');
  const identity = loadIdentity(dir);
  const init = isSet(args, 'init');
  const created = init && !fileState(dir, 'database').present;
  if (init) openDeviceDatabase(dir, { now: deps.clock.now() }).close();
  const key = deviceDatabaseKey(dir);
  const exists = fileState(dir, 'database').present;
  appendDeviceAudit(dir, { event: 'database.key_read', details: { deviceId: identity.deviceId, by: 'provisio device db-key' }, at: deps.clock.now() });
  warn(deps, 'this key is a secret: with it, anyone holding device.db reads the database; do not log it or paste it into tickets');
  if (!exists) warn(deps, `${keystorePath(dir, 'database')} does not exist yet; install makes it, or run again with --init`);
  if (isSet(args, 'json')) {
    printJson(deps, { key: key.toString('hex'), database: keystorePath(dir, 'database'), exists, created, cipher: 'sqlcipher', compatibility: 3 });
  } else {
    deps.stdout.write(`${key.toString('hex')}\n`);
  }
  return EXIT.ok;
}

/**
 * `device check-in`: test the connection after install (seed 003 step 5) by checking in at the
 * central station over mutual TLS with the installed certificate.
 */
async function stationCheckIn(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const cmd = 'device check-in';
  const dir = requireString(args, 'dir', cmd);
  const stationUrl = requireString(args, 'station', cmd);
  const status = optionalString(args, 'status');
  if (status !== undefined && status !== 'ok' && status !== 'degraded' && status !== 'fault') {
    throw usageError(`--status must be ok, degraded or fault; got "${status.slice(0, 40)}"`);
  }
  const message = optionalString(args, 'message');
  const firmwareVersion = optionalString(args, 'firmware') ?? loadIdentity(dir).firmwareVersion ?? undefined;
  const telemetry = {
    ...(firmwareVersion ? { firmwareVersion } : {}),
    ...(status ? { status } : {}),
    ...(message !== undefined ? { message } : {}),
  } as CheckInTelemetry;
  const result = await checkInAtStation({}, { dir, stationUrl, telemetry });
  if (isSet(args, 'json')) printJson(deps, result);
  else deps.stdout.write(`${checkInLine(tick(deps), stationUrl, result)}\n`);
  return EXIT.ok;
}

function checkInLine(ok: string, stationUrl: string, r: CheckInResult): string {
  return `${ok} Checked in at ${stationUrl} as ${r.deviceId} (certificate ${r.serial}, status from ${r.revocationSource === 'crl' ? 'the CRL: the OCSP responder was down' : 'OCSP'}) at ${r.lastSeen}`;
}

/** The firmware version recorded at init, as check-in telemetry. */
function initTelemetry(dir: string): CheckInTelemetry {
  const firmwareVersion = loadIdentity(dir).firmwareVersion;
  return firmwareVersion ? { firmwareVersion } : {};
}

// ---------------------------------------------------------------------------------------------
// device enroll (a one-time enrollment token) and device pair (a pairing code)

/** `--key` (the pairing issue's spelling) or `--key-type`: p256 unless one is given. */
function keyChoice(args: ParsedArgs, cmd: string): KeyType {
  const key = optionalString(args, 'key');
  if (key === undefined) return keyTypeFlag(args, cmd);
  return keyTypeFlag({ ...args, values: { ...args.values, 'key-type': key } }, cmd);
}

/** What enroll and pair print once the keystore is installed and confirmed, and the station check. */
async function finishEnrollment(
  deps: CliDeps,
  args: ParsedArgs,
  r: { dir: string; serviceUrl: string; result: SecretEnrollResult; extra?: Record<string, unknown> },
): Promise<number> {
  const { dir, result } = r;
  const json = isSet(args, 'json');
  const ok = tick(deps);
  const stationUrl = optionalString(args, 'station');
  const checkIn = stationUrl === undefined ? null : await checkInAtStation({}, { dir, stationUrl, telemetry: {} });
  const { install: record, identity, paths } = result;
  if (json) {
    printJson(deps, {
      state: identity.state,
      deviceId: identity.deviceId,
      system: identity.system,
      component: identity.component,
      requestId: result.requestId,
      serial: record.serial,
      notBefore: record.notBefore,
      notAfter: record.notAfter,
      confirmed: result.confirmed,
      serviceUrl: r.serviceUrl,
      checkIn,
      files: { key: result.keyPath, certificate: paths.certificate, profile: paths.profile, install: paths.install },
      ...r.extra,
    });
    return EXIT.ok;
  }
  deps.stdout.write(`${[
    `${ok} Key generated in ${result.keyPath} (${KEY_NAMES[identity.keyType]}, mode 0600, never left this device)`,
    `${ok} Answer verified against the root given (--ca) before anything was written; installed in ${dir}`,
    `${ok} Mutual TLS with the new certificate: the service holds ${identity.deviceId} provisioned`,
    ...(checkIn && stationUrl ? [checkInLine(ok, stationUrl, checkIn)] : []),
    ...fieldLines([
      ['device', `${identity.deviceId} (${identity.deviceLabel})`],
      ['system', `${identity.system} / ${identity.component}`],
      ['serial', record.serial],
      ['valid to', record.notAfter],
      ['request', result.requestId],
    ]),
  ].join('\n')}\n`);
  return EXIT.ok;
}

async function enroll(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const cmd = 'device enroll';
  const serviceUrl = requireString(args, 'url', cmd);
  const rootPem = readText(requireString(args, 'ca', cmd));
  const token = readText(requireString(args, 'token-file', cmd)).trim();
  const deviceId = requireString(args, 'id', cmd);
  const dir = requireString(args, 'dir', cmd);
  const deviceLabel = optionalString(args, 'label');
  const waitSeconds = integerFlag(args, 'wait', 900, 1, 604_800, cmd);
  const result = await enrollWithToken(
    { clock: deps.clock, random: deps.random },
    { dir, serviceUrl, rootPem, token, deviceId, ...(deviceLabel !== undefined ? { deviceLabel } : {}), keyType: keyChoice(args, cmd), maxWaitMs: waitSeconds * 1000 },
  );
  return finishEnrollment(deps, args, { dir, serviceUrl, result });
}

async function pair(deps: CliDeps, args: ParsedArgs): Promise<number> {
  const cmd = 'device pair';
  const serviceUrl = requireString(args, 'url', cmd);
  const rootPem = readText(requireString(args, 'ca', cmd));
  const deviceId = requireString(args, 'id', cmd);
  const code = requireString(args, 'code', cmd);
  const dir = requireString(args, 'dir', cmd);
  const waitSeconds = integerFlag(args, 'wait', 900, 1, 604_800, cmd);
  const result = await pairDevice(
    { clock: deps.clock, random: deps.random },
    { dir, serviceUrl, rootPem, deviceId, code, keyType: keyChoice(args, cmd), hmac: isSet(args, 'hmac'), maxWaitMs: waitSeconds * 1000 },
  );
  return finishEnrollment(deps, args, { dir, serviceUrl, result, extra: { signature: result.signature, config: `${dir}/config.json` } });
}

// ---------------------------------------------------------------------------------------------

/** The flags that describe a new device identity: shared by `device init` and `device provision`. */
const IDENTITY_OPTIONS = {
  ...COMMON_OPTIONS,
  'package': { type: 'string' },
  'component': { type: 'string' },
  'id': { type: 'string' },
  'label': { type: 'string' },
  'dir': { type: 'string' },
  'serial': { type: 'string' },
  'firmware': { type: 'string' },
  'key-type': { type: 'string' },
} as const satisfies CommandSpec['options'];

export const DEVICE_COMMANDS: readonly CommandSpec[] = [
  {
    path: 'device init',
    help: DEVICE_INIT_HELP,
    options: { ...IDENTITY_OPTIONS, out: { type: 'string' }, reset: { type: 'boolean' } },
    maxPositionals: 0,
    run: withHints(init),
  },
  {
    path: 'device install',
    help: DEVICE_INSTALL_HELP,
    options: { ...COMMON_OPTIONS, dir: { type: 'string' } },
    maxPositionals: 1,
    run: withHints(install),
  },
  {
    path: 'device provision',
    help: DEVICE_PROVISION_HELP,
    options: { ...IDENTITY_OPTIONS, url: { type: 'string' }, wait: { type: 'string' }, station: { type: 'string' } },
    maxPositionals: 0,
    run: withHints(provision),
  },
  {
    path: 'device enroll',
    help: DEVICE_ENROLL_HELP,
    options: { ...COMMON_OPTIONS, 'url': { type: 'string' }, 'ca': { type: 'string' }, 'token-file': { type: 'string' }, 'id': { type: 'string' }, 'label': { type: 'string' }, 'dir': { type: 'string' }, 'key': { type: 'string' }, 'key-type': { type: 'string' }, 'wait': { type: 'string' }, 'station': { type: 'string' } },
    maxPositionals: 0,
    run: withHints(enroll),
  },
  {
    path: 'device pair',
    help: DEVICE_PAIR_HELP,
    options: { ...COMMON_OPTIONS, 'url': { type: 'string' }, 'ca': { type: 'string' }, 'id': { type: 'string' }, 'code': { type: 'string' }, 'dir': { type: 'string' }, 'key': { type: 'string' }, 'key-type': { type: 'string' }, 'hmac': { type: 'boolean' }, 'wait': { type: 'string' }, 'station': { type: 'string' } },
    maxPositionals: 0,
    run: withHints(pair),
  },
  {
    path: 'device run',
    help: DEVICE_RUN_HELP,
    options: { ...COMMON_OPTIONS, dir: { type: 'string' }, url: { type: 'string' }, station: { type: 'string' }, heartbeat: { type: 'string' } },
    maxPositionals: 0,
    run: withHints(run),
  },
  {
    path: 'device check-in',
    help: DEVICE_CHECK_IN_HELP,
    options: { ...COMMON_OPTIONS, dir: { type: 'string' }, station: { type: 'string' }, status: { type: 'string' }, message: { type: 'string' }, firmware: { type: 'string' } },
    maxPositionals: 0,
    run: withHints(stationCheckIn),
  },
  {
    path: 'device renew',
    help: DEVICE_RENEW_HELP,
    options: { ...COMMON_OPTIONS, dir: { type: 'string' }, url: { type: 'string' }, rekey: { type: 'boolean' } },
    maxPositionals: 0,
    run: withHints(renew),
  },
  {
    path: 'device reprovision',
    help: DEVICE_REPROVISION_HELP,
    options: { ...COMMON_OPTIONS, dir: { type: 'string' }, url: { type: 'string' }, wait: { type: 'string' } },
    maxPositionals: 0,
    run: withHints(reprovision),
  },
  {
    path: 'device audit',
    help: DEVICE_AUDIT_HELP,
    options: { ...COMMON_OPTIONS, dir: { type: 'string' }, verify: { type: 'boolean' } },
    maxPositionals: 0,
    run: withHints(audit),
  },
  {
    path: 'device db-key',
    help: DEVICE_DB_KEY_HELP,
    options: { ...COMMON_OPTIONS, dir: { type: 'string' }, init: { type: 'boolean' } },
    maxPositionals: 0,
    run: withHints(dbKey),
  },
  {
    path: 'device show',
    help: DEVICE_SHOW_HELP,
    options: { ...COMMON_OPTIONS, dir: { type: 'string' } },
    maxPositionals: 0,
    run: withHints(show),
  },
];
