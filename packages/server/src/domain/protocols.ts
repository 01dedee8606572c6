/**
 * Which standard enrollment protocols (EST, CMP, SCEP; docs/protocols.md) a system or one of its
 * components accepts. Off by default (D41): a protocol is one more way in, so an administrator
 * opens it where the devices need it. A switch on the system covers all its components; one on a
 * component covers that component only. Every change is audited (protocol.enable, protocol.disable).
 */
import { type Actor, type ServiceDeps, actorName } from './deps.js';
import { ServiceError } from './errors.js';
import type { ComponentRecord, EnrollmentProtocol, ProtocolSwitch, SystemRecord } from './model.js';
import type { StoreTx } from './store.js';
import { requireSystem } from './systems.js';

const NAMES: Readonly<Record<EnrollmentProtocol, string>> = { est: 'EST', cmp: 'CMP', scep: 'SCEP' };

export interface ProtocolScope {
  readonly system: SystemRecord;
  readonly component: ComponentRecord | null;
}

async function resolveScope(deps: Pick<ServiceDeps, 'store'>, input: { system: string; component?: string | undefined }): Promise<ProtocolScope> {
  const system = await requireSystem(deps, input.system);
  if (input.component === undefined) return { system, component: null };
  const component = await deps.store.findComponent(system.id, input.component);
  if (!component) throw new ServiceError('component_not_found', `system "${system.name}" has no component "${input.component}"`);
  return { system, component };
}

function scopeName(scope: ProtocolScope): string {
  return scope.component ? `${scope.system.name}/${scope.component.name}` : scope.system.name;
}

/** Switches `protocol` on (enabled true) or off for a system or a component; unchanged writes nothing. */
export async function setProtocol(
  deps: Pick<ServiceDeps, 'store' | 'clock'>,
  actor: Actor,
  input: { system: string; component?: string | undefined; protocol: EnrollmentProtocol; enabled: boolean },
): Promise<{ readonly changed: boolean }> {
  const scope = await resolveScope(deps, input);
  const now = deps.clock.now();
  const changed = await deps.store.transaction(async (tx) => {
    const done = input.enabled
      ? await tx.enableProtocol({ systemId: scope.system.id, componentId: scope.component?.id ?? null, protocol: input.protocol, enabledAt: now, enabledBy: actor.userId })
      : await tx.disableProtocol(scope.system.id, scope.component?.id ?? null, input.protocol);
    if (!done) return false;
    await tx.appendAudit({
      at: now,
      actor: actorName(actor),
      action: input.enabled ? 'protocol.enable' : 'protocol.disable',
      targetType: scope.component ? 'component' : 'system',
      targetId: scopeName(scope),
      details: { protocol: input.protocol, system: scope.system.name, ...(scope.component ? { component: scope.component.name } : {}) },
    });
    return true;
  });
  return { changed };
}

export interface ProtocolSwitchView {
  readonly system: string;
  readonly component: string | null;
  readonly protocol: EnrollmentProtocol;
  readonly enabledAt: string;
  readonly enabledBy: string | null;
}

/** Every protocol switched on, with its scope's names (optionally of one system). */
export async function listProtocols(deps: Pick<ServiceDeps, 'store'>, input: { system?: string | undefined } = {}): Promise<ProtocolSwitchView[]> {
  const system = input.system === undefined ? undefined : await requireSystem(deps, input.system);
  const switches = await deps.store.listProtocolSwitches(system?.id);
  const systems = new Map((await deps.store.listSystems()).map((s) => [s.id as string, s.name]));
  const components = new Map<string, string>();
  for (const systemId of new Set(switches.filter((s) => s.componentId).map((s) => s.systemId))) {
    for (const c of await deps.store.listComponents(systemId)) components.set(c.id, c.name);
  }
  const users = new Map<string, string>();
  for (const userId of new Set(switches.map((s) => s.enabledBy))) {
    const user = await deps.store.findUserById(userId);
    if (user) users.set(userId, user.username);
  }
  return switches.map((s: ProtocolSwitch) => ({
    system: systems.get(s.systemId) ?? s.systemId,
    component: s.componentId ? (components.get(s.componentId) ?? s.componentId) : null,
    protocol: s.protocol,
    enabledAt: s.enabledAt.toISOString(),
    enabledBy: users.get(s.enabledBy) ?? null,
  }));
}

/** What the switch is read from: the store, or the caller's transaction. */
type SwitchReader = { readonly store: Pick<StoreTx, 'listProtocolSwitches' | 'findSystemById'> };

/** Whether `protocol` is on for this component: on the component itself or on its system. */
export async function isProtocolEnabled(deps: SwitchReader, protocol: EnrollmentProtocol, component: ComponentRecord): Promise<boolean> {
  const switches = await deps.store.listProtocolSwitches(component.systemId);
  return switches.some((s) => s.protocol === protocol && (s.componentId === null || s.componentId === component.id));
}

/** Refuses with protocol_not_enabled unless `protocol` is on for this component. */
export async function requireProtocol(deps: SwitchReader, protocol: EnrollmentProtocol, component: ComponentRecord, system?: SystemRecord | null): Promise<void> {
  if (await isProtocolEnabled(deps, protocol, component)) return;
  const systemName = system?.name ?? (await deps.store.findSystemById(component.systemId))?.name ?? '?';
  throw new ServiceError(
    'protocol_not_enabled',
    `${NAMES[protocol]} is not enabled for component "${systemName}/${component.name}"; an admin enables it with "provisio protocol enable ${protocol} --system ${JSON.stringify(systemName)} --component ${JSON.stringify(component.name)}"`,
  );
}
