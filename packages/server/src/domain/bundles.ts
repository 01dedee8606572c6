/**
 * Bundles for disconnected delivery at scale (docs/service.md "Bundles"): a technician uploads
 * many requests as one request bundle, and takes the certified profiles back as one profile
 * bundle signed by the service's profile signer.
 *
 * A request bundle is checked whole first (signature, trust, every hash, the package that signed
 * it): a bad bundle stores nothing. Then each entry goes through the same intake as a single
 * upload (`submitRequest`) and gets its own verdict; a refused entry stores nothing for itself
 * and does not stop the others.
 */
import { createHash } from 'node:crypto';
import { isProvisioError } from '@provisio/pki';
import {
  type BundleEntry,
  ProtocolError,
  createBundle,
  parseBundle,
  parseProvisioningRequest,
  verifyBundle,
} from '@provisio/protocol';
import { type Actor, type ServiceDeps, actorName } from './deps.js';
import { ServiceError } from './errors.js';
import type { DeviceIdText, PackageId, RequestId, RequestRecord, RequestState } from './model.js';
import { submitRequest } from './requests.js';

export type EntryVerdict =
  | { readonly name: string; readonly ok: true; readonly created: boolean; readonly request: RequestRecord }
  | { readonly name: string; readonly ok: false; readonly error: { readonly code: string; readonly message: string } };

export interface RequestBundleResult {
  readonly contentHash: string;
  readonly packageId: PackageId;
  readonly entries: readonly EntryVerdict[];
}

/**
 * Accepts a request bundle: the bundle signature, its chain to the service root with the
 * request-signing purpose and every entry hash, then the package named by the manifest must be
 * the one whose bootstrap certificate signed it, active and unexpired. Only then is each entry
 * submitted; an entry made with another package is refused (`package_mismatch`).
 */
export async function submitRequestBundle(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'random' | 'authority' | 'urls'>,
  actor: Actor,
  raw: Buffer,
): Promise<RequestBundleResult> {
  const bundle = parseBundle(raw);
  const now = deps.clock.now();
  verifyBundle(bundle, { roots: [deps.authority.root], intermediates: [deps.authority.intermediate], at: now, type: 'provisio.request-bundle' });
  const packageId = bundle.manifest.packageId as PackageId;
  const pkg = await deps.store.findPackage(packageId);
  const signer = bundle.signerChain[0];
  if (!pkg || !signer || pkg.bootstrapFingerprint !== signer.fingerprint) {
    throw new ProtocolError('bundle_untrusted', `the bundle was not signed with the bootstrap credential of package "${packageId}"`);
  }
  if (pkg.status === 'revoked') {
    throw new ServiceError('package_revoked', `package ${pkg.id} was revoked at ${pkg.revokedAt?.toISOString()}; its bundles are refused`);
  }
  if (now >= pkg.expiresAt) throw new ProtocolError('package_expired', `package ${pkg.id} expired at ${pkg.expiresAt.toISOString()}`);

  const entries: EntryVerdict[] = [];
  for (const entry of bundle.entries) entries.push(await submitEntry(deps, actor, packageId, entry));

  const count = (f: (v: EntryVerdict) => boolean) => entries.filter(f).length;
  await deps.store.transaction(async (tx) => {
    await tx.appendAudit({
      at: deps.clock.now(),
      actor: actorName(actor),
      action: 'request.bundle',
      targetType: 'bundle',
      targetId: bundle.contentHash,
      details: {
        packageId,
        entries: entries.length,
        created: count((v) => v.ok && v.created),
        duplicate: count((v) => v.ok && !v.created),
        refused: count((v) => !v.ok),
        createdAt: bundle.manifest.createdAt,
      },
    });
  });
  return { contentHash: bundle.contentHash, packageId, entries };
}

async function submitEntry(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'random' | 'authority' | 'urls'>,
  actor: Actor,
  packageId: PackageId,
  entry: BundleEntry,
): Promise<EntryVerdict> {
  try {
    const pr = parseProvisioningRequest(entry.content);
    if (pr.payload.packageId !== packageId) {
      throw new ServiceError('package_mismatch', `request ${pr.payload.deviceId} was made with package "${pr.payload.packageId}", but the bundle is signed by package "${packageId}"`);
    }
    const { request, created } = await submitRequest(deps, actor, { raw: entry.content, transport: 'upload' });
    return { name: entry.name, ok: true, created, request };
  } catch (e) {
    // A refusal of this entry, never a failure of the service: those end the whole upload.
    if (!isProvisioError(e) || e.category === 'internal' || e.category === 'unavailable') throw e;
    return { name: entry.name, ok: false, error: { code: e.code, message: e.message } };
  }
}

/** One request asked for in a profile bundle, and why its profile is not in it. */
export interface NotReady {
  readonly requestId: RequestId | null;
  readonly contentSha256: string | null;
  readonly deviceId: DeviceIdText | null;
  readonly state: RequestState | null;
  readonly code: 'request_not_found' | 'profile_not_found' | 'request_rejected';
  readonly message: string;
}

export interface ProfileBundleResult {
  /** The signed profile bundle file, or null when none of the requests has a profile. */
  readonly bundle: string | null;
  readonly included: ReadonlyArray<{ readonly name: string; readonly requestId: RequestId; readonly deviceId: DeviceIdText }>;
  readonly notReady: readonly NotReady[];
}

/** A file name for a device's profile: deviceId with ':' made '_' (not allowed on every file system). */
function profileEntryName(deviceId: string, requestId: string, taken: Set<string>): string {
  let name = `${deviceId.replace(/:/g, '_')}.pcp`;
  if (taken.has(name.toLowerCase())) name = `${deviceId.replace(/:/g, '_')}-${requestId}.pcp`;
  taken.add(name.toLowerCase());
  return name;
}

/**
 * The certified profiles of the requests named by id or by the SHA-256 of their request file
 * (the hashes of a request bundle's manifest), as one bundle signed by the profile signer, and
 * for each request without a profile, why (not found, pending, rejected).
 */
export async function buildProfileBundle(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'authority'>,
  actor: Actor,
  select: { readonly requestIds?: readonly string[]; readonly contentHashes?: readonly string[] },
): Promise<ProfileBundleResult> {
  const wanted = [
    ...(select.requestIds ?? []).map((id) => ({ requestId: id as RequestId, contentSha256: null })),
    ...(select.contentHashes ?? []).map((hash) => ({ requestId: null, contentSha256: hash })),
  ];
  const entries: Array<{ name: string; content: Buffer }> = [];
  const included: Array<{ name: string; requestId: RequestId; deviceId: DeviceIdText }> = [];
  const notReady: NotReady[] = [];
  const seen = new Set<string>();
  const taken = new Set<string>();
  for (const w of wanted) {
    const request = w.requestId ? await deps.store.findRequest(w.requestId) : await deps.store.findRequestByContentHash(w.contentSha256 as string);
    const missing = (code: NotReady['code'], message: string) =>
      notReady.push({
        requestId: request?.id ?? w.requestId,
        contentSha256: request?.contentHash ?? w.contentSha256,
        deviceId: request?.deviceId ?? null,
        state: request?.state ?? null,
        code,
        message,
      });
    if (!request) {
      missing('request_not_found', w.requestId ? `no provisioning request has id "${w.requestId}"` : `no request file with SHA-256 ${w.contentSha256} was uploaded`);
      continue;
    }
    if (seen.has(request.id)) continue; // named twice (by id and by hash): one entry
    seen.add(request.id);
    if (request.state === 'rejected') {
      missing('request_rejected', `request ${request.id} (device ${request.deviceId}) was rejected: ${request.decisionReason ?? 'no reason given'}`);
      continue;
    }
    const profile = await deps.store.findProfile(request.id);
    if (!profile) {
      missing('profile_not_found', `request ${request.id} (device ${request.deviceId}) is ${request.state}; it has no certified profile until it is approved`);
      continue;
    }
    const name = profileEntryName(request.deviceId, request.id, taken);
    entries.push({ name, content: profile.content });
    included.push({ name, requestId: request.id, deviceId: request.deviceId });
  }
  if (entries.length === 0) return { bundle: null, included, notReady };

  const now = deps.clock.now();
  const bundle = await createBundle({
    type: 'provisio.profile-bundle',
    packageId: null,
    createdAt: now,
    entries,
    signer: deps.authority.profileSigner,
    signerChain: deps.authority.profileSignerChain,
  });
  await deps.store.transaction(async (tx) => {
    await tx.appendAudit({
      at: now,
      actor: actorName(actor),
      action: 'profile.bundle',
      targetType: 'bundle',
      targetId: createHash('sha256').update(bundle, 'utf8').digest('hex'),
      details: { profiles: included.length, notReady: notReady.length },
    });
  });
  return { bundle, included, notReady };
}
