/** Systems (product lines) and their components (device kinds carrying the certificate template). */
import { KEY_TYPES, type KeyType, PkiError, checkNameAttribute } from '@provisio/pki';
import { type Actor, type ServiceDeps, actorName, newId } from './deps.js';
import { ServiceError } from './errors.js';
import type { ComponentId, ComponentRecord, SystemId, SystemRecord } from './model.js';
import { StoreConflict } from './store.js';
import { DEFAULT_DEVICE_VALIDITY_DAYS as DEFAULT_VALIDITY_DAYS, MAX_DEVICE_VALIDITY_DAYS as MAX_VALIDITY_DAYS } from '../issuance/validity.js';

/**
 * 0 by default: a certificate past its notAfter is no longer vouched for by the CA, so renewing
 * with it is something an operator opts into per component (docs/lifecycle.md). At most 90 days:
 * longer, and a lost device's old key stays useful for a quarter after it should have died.
 */
export const DEFAULT_RENEWAL_GRACE_DAYS = 0;
export const MAX_RENEWAL_GRACE_DAYS = 90;

function checkGraceDays(days: number): void {
  if (!Number.isInteger(days) || days < 0 || days > MAX_RENEWAL_GRACE_DAYS) {
    throw new ServiceError('validation_failed', `the renewal grace period must be 0 to ${MAX_RENEWAL_GRACE_DAYS} days; got ${days}`);
  }
}

function checkName(kind: 'system' | 'component', name: string): void {
  try {
    // The name becomes the device certificate's OU (system) or role (component): 64 characters at most.
    checkNameAttribute({ type: 'OU', value: name });
  } catch (e) {
    // An invisible character keeps its own code (D29), the same at device init and at intake.
    if (e instanceof PkiError && e.code !== 'text_invalid') throw new ServiceError('validation_failed', `${kind} name: ${e.message}`);
    throw e;
  }
  if (name.includes('/')) throw new ServiceError('validation_failed', `${kind} name "${name}" must not contain "/"`);
}

export async function createSystem(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'random'>,
  actor: Actor,
  input: { name: string; allowMock?: boolean; separationOfDuties?: boolean; enrollmentSecretApproves?: boolean; centralKeyGeneration?: boolean },
): Promise<SystemRecord> {
  checkName('system', input.name);
  const system: SystemRecord = {
    id: newId(deps.random, 'sys') as SystemId,
    name: input.name,
    allowMock: input.allowMock ?? true,
    separationOfDuties: input.separationOfDuties ?? true,
    enrollmentSecretApproves: input.enrollmentSecretApproves ?? false,
    centralKeyGeneration: input.centralKeyGeneration ?? false,
    createdAt: deps.clock.now(),
  };
  try {
    await deps.store.transaction(async (tx) => {
      await tx.insertSystem(system);
      await tx.appendAudit({
        at: deps.clock.now(), actor: actorName(actor), action: 'system.create', targetType: 'system', targetId: system.name,
        details: { allowMock: system.allowMock, separationOfDuties: system.separationOfDuties, ...(system.enrollmentSecretApproves ? { enrollmentSecretApproves: true } : {}),
          ...(system.centralKeyGeneration ? { centralKeyGeneration: true } : {}),
        },
      });
    });
  } catch (e) {
    if (e instanceof StoreConflict) throw new ServiceError('system_exists', `system "${input.name}" already exists`);
    throw e;
  }
  return system;
}

/** The settings of a system that can change after it was created. */
export interface SystemChanges {
  readonly allowMock?: boolean;
  /** Whether the person who submitted a request is refused as its approver (D28). */
  readonly separationOfDuties?: boolean;
  /** Whether a valid enrollment token or pairing code counts as the approval (D38). */
  readonly enrollmentSecretApproves?: boolean;
  /** Whether a pairing may have the service generate the device key (D39; off by default). */
  readonly centralKeyGeneration?: boolean;
}

/**
 * Changes a system's settings (admins; docs/web.md "Systems"): `allowMock` and
 * `separationOfDuties`. The name cannot change: it is signed into every package and request of
 * the system, so renaming would orphan them. Audited as one system.update with the old and new
 * value of each setting that changed; unchanged values write nothing.
 */
export async function updateSystem(deps: Pick<ServiceDeps, 'store' | 'clock'>, actor: Actor, name: string, changes: SystemChanges): Promise<SystemRecord> {
  const system = await requireSystem(deps, name);
  const mock = changes.allowMock !== undefined && changes.allowMock !== system.allowMock ? changes.allowMock : undefined;
  const duties = changes.separationOfDuties !== undefined && changes.separationOfDuties !== system.separationOfDuties ? changes.separationOfDuties : undefined;
  const secret = changes.enrollmentSecretApproves !== undefined && changes.enrollmentSecretApproves !== system.enrollmentSecretApproves
    ? changes.enrollmentSecretApproves
    : undefined;
  const central = changes.centralKeyGeneration !== undefined && changes.centralKeyGeneration !== system.centralKeyGeneration
    ? changes.centralKeyGeneration
    : undefined;
  if (mock === undefined && duties === undefined && secret === undefined && central === undefined) return system;
  const missing = () => new ServiceError('system_not_found', `system "${name}" does not exist`);
  await deps.store.transaction(async (tx) => {
    if (mock !== undefined && !(await tx.setSystemAllowMock(system.id, mock))) throw missing();
    if (duties !== undefined && !(await tx.setSystemSeparationOfDuties(system.id, duties))) throw missing();
    if (secret !== undefined && !(await tx.setSystemEnrollmentSecretApproves(system.id, secret))) throw missing();
    if (central !== undefined && !(await tx.setSystemCentralKeyGeneration(system.id, central))) throw missing();
    await tx.appendAudit({
      at: deps.clock.now(), actor: actorName(actor), action: 'system.update', targetType: 'system', targetId: system.name,
      details: {
        ...(mock !== undefined ? { allowMock: { from: system.allowMock, to: mock } } : {}),
        ...(duties !== undefined ? { separationOfDuties: { from: system.separationOfDuties, to: duties } } : {}),
        ...(secret !== undefined ? { enrollmentSecretApproves: { from: system.enrollmentSecretApproves, to: secret } } : {}),
        ...(central !== undefined ? { centralKeyGeneration: { from: system.centralKeyGeneration, to: central } } : {}),
      },
    });
  });
  return {
    ...system,
    ...(mock !== undefined ? { allowMock: mock } : {}),
    ...(duties !== undefined ? { separationOfDuties: duties } : {}),
    ...(secret !== undefined ? { enrollmentSecretApproves: secret } : {}),
    ...(central !== undefined ? { centralKeyGeneration: central } : {}),
  };
}

export async function requireSystem(deps: Pick<ServiceDeps, 'store'>, name: string): Promise<SystemRecord> {
  const system = await deps.store.findSystemByName(name);
  if (!system) throw new ServiceError('system_not_found', `system "${name}" does not exist; create it with "provisio system create ${name}"`);
  return system;
}

export async function createComponent(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'random'>,
  actor: Actor,
  input: { system: string; name: string; keyTypes?: readonly KeyType[]; validityDays?: number; renewalGraceDays?: number },
): Promise<ComponentRecord> {
  checkName('component', input.name);
  const system = await requireSystem(deps, input.system);
  const keyTypes = input.keyTypes ?? ['p256'];
  if (keyTypes.length === 0 || keyTypes.some((k) => !KEY_TYPES.includes(k))) {
    throw new ServiceError('validation_failed', `key types must be among ${KEY_TYPES.join(', ')}`);
  }
  const validityDays = input.validityDays ?? DEFAULT_VALIDITY_DAYS;
  if (!Number.isInteger(validityDays) || validityDays < 1 || validityDays > MAX_VALIDITY_DAYS) {
    throw new ServiceError('validation_failed', `validity must be 1 to ${MAX_VALIDITY_DAYS} days; got ${validityDays}`);
  }
  const renewalGraceDays = input.renewalGraceDays ?? DEFAULT_RENEWAL_GRACE_DAYS;
  checkGraceDays(renewalGraceDays);
  const component: ComponentRecord = {
    id: newId(deps.random, 'cmp') as ComponentId,
    systemId: system.id,
    name: input.name,
    keyTypes: [...new Set(keyTypes)],
    validityDays,
    renewalGraceDays,
    createdAt: deps.clock.now(),
  };
  try {
    await deps.store.transaction(async (tx) => {
      await tx.insertComponent(component);
      await tx.appendAudit({
        at: deps.clock.now(),
        actor: actorName(actor),
        action: 'component.create',
        targetType: 'component',
        targetId: `${system.name}/${component.name}`,
        details: { keyTypes: component.keyTypes, validityDays, renewalGraceDays },
      });
    });
  } catch (e) {
    if (e instanceof StoreConflict) throw new ServiceError('component_exists', `system "${system.name}" already has a component "${input.name}"`);
    throw e;
  }
  return component;
}

export async function requireComponent(deps: Pick<ServiceDeps, 'store'>, system: SystemRecord, name: string): Promise<ComponentRecord> {
  const component = await deps.store.findComponent(system.id, name);
  if (!component) {
    throw new ServiceError('component_not_found', `system "${system.name}" has no component "${name}"; create it with "provisio component create --system ${system.name} ${name}"`);
  }
  return component;
}

export async function describeSystem(deps: Pick<ServiceDeps, 'store'>, name: string): Promise<{ system: SystemRecord; components: ComponentRecord[] }> {
  const system = await requireSystem(deps, name);
  return { system, components: await deps.store.listComponents(system.id) };
}

/** Changes how many days after expiry the component's devices may still renew (audit `component.update`). */
export async function updateComponentRenewalGrace(
  deps: Pick<ServiceDeps, 'store' | 'clock'>,
  actor: Actor,
  input: { system: string; name: string; renewalGraceDays: number },
): Promise<ComponentRecord> {
  checkGraceDays(input.renewalGraceDays);
  const system = await requireSystem(deps, input.system);
  const component = await requireComponent(deps, system, input.name);
  if (component.renewalGraceDays === input.renewalGraceDays) return component;
  await deps.store.transaction(async (tx) => {
    await tx.setComponentRenewalGrace(component.id, input.renewalGraceDays);
    await tx.appendAudit({
      at: deps.clock.now(),
      actor: actorName(actor),
      action: 'component.update',
      targetType: 'component',
      targetId: `${system.name}/${component.name}`,
      details: { renewalGraceDays: { from: component.renewalGraceDays, to: input.renewalGraceDays } },
    });
  });
  return { ...component, renewalGraceDays: input.renewalGraceDays };
}
