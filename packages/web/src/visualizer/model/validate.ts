/** Checks a flow's model (a method or a lifecycle flow) is consistent; returns the problems found (none for a valid model). */
import { STANDARDS } from './standards.js';
import type { Flow, Method } from './types.js';

export function validateMethod(m: Flow | Method): string[] {
  const problems: string[] = [];
  const at = (where: string, what: string) => problems.push(`${m.id}: ${where}: ${what}`);
  const zoneIds = new Set(m.zones.map((z) => z.id));
  const actorIds = new Set(m.actors.map((a) => a.id));
  if (!/^[a-z0-9-]+$/.test(m.id)) at('id', 'must be lowercase letters, digits and dashes (it is a URL segment)');
  if (zoneIds.size !== m.zones.length) at('zones', 'duplicate zone id');
  if (actorIds.size !== m.actors.length) at('actors', 'duplicate actor id');
  if (m.steps.length === 0) at('steps', 'no steps');
  for (const a of m.actors) if (!zoneIds.has(a.zone)) at(`actor ${a.id}`, `unknown zone ${a.zone}`);
  for (const z of m.zones) {
    // A zone is a band across adjacent lanes: its actors must be contiguous in lane order.
    const lanes = m.actors.map((a, i) => (a.zone === z.id ? i : -1)).filter((i) => i >= 0);
    if (lanes.length === 0) at(`zone ${z.id}`, 'has no actor');
    else if ((lanes.at(-1) as number) - (lanes[0] as number) + 1 !== lanes.length) at(`zone ${z.id}`, 'its lanes are not adjacent');
  }
  const stepIds = new Set<string>();
  m.steps.forEach((s, i) => {
    const where = `step ${i + 1} (${s.id})`;
    if (stepIds.has(s.id)) at(where, 'duplicate step id');
    stepIds.add(s.id);
    if (!actorIds.has(s.from)) at(where, `unknown actor ${s.from}`);
    if (!actorIds.has(s.to)) at(where, `unknown actor ${s.to}`);
    if ((s.from === s.to) !== (s.channel.kind === 'local')) at(where, 'only a local channel stays within one actor, and it must');
    for (const [name, text] of [['title', s.title], ['sentence', s.sentence], ['why', s.why], ['channel label', s.channel.label], ['residual risk', s.residualRisk]] as const) {
      if (text.trim() === '') at(where, `empty ${name}`);
    }
    if (!(s.duration.seconds > 0) || !Number.isFinite(s.duration.seconds)) at(where, 'duration must be positive');
    if (!s.channel.secure && s.threats.length === 0) at(where, 'an insecure channel needs its threats listed');
    if (!s.channel.secure && s.mitigations.length === 0) at(where, 'an insecure channel needs its mitigations listed');
    if (s.threats.length > 0 && s.mitigations.length === 0) at(where, 'threats without a mitigation');
    if (m.kind === 'generic' && s.command !== undefined) at(where, 'a generic method has no Provisio command');
    // A standard protocol's flow is run by an unmodified client (docs/protocols.md), not by Provisio's CLI.
    if (s.command !== undefined && !/^(provisio|pki|openssl|curl) /.test(s.command)) at(where, 'a command is a provisio command or a standard client\'s (pki, openssl, curl)');
    const names = s.carries.map((f) => f.name);
    if (new Set(names).size !== names.length) at(where, 'duplicate field name');
    for (const f of s.carries) if (f.name.trim() === '' || f.example.trim() === '') at(where, 'a field needs a name and an example');
    for (const r of s.standards) {
      if (!Object.hasOwn(STANDARDS, r.id)) at(where, `standard ${r.id} is not in the allowed list`);
      if (r.claim.trim() === '') at(where, `standard ${r.id} without a claim`);
      // A generic method is described, not built here: it may only illustrate.
      if (m.kind === 'generic' && r.level !== 'illustrates') at(where, `standard ${r.id}: a generic method can only illustrate`);
    }
    for (const v of s.verifies) {
      if (!actorIds.has(v.by)) at(where, `verification by unknown actor ${v.by}`);
      if (v.anchor.trim() === '') at(where, 'verification without a trust anchor');
    }
  });
  // Only a provisioning method is scored; a lifecycle flow has no assessment to check.
  for (const [name, score] of Object.entries('assessment' in m ? m.assessment : {})) {
    if (![1, 2, 3, 4, 5].includes(score.score)) at(`assessment ${name}`, 'score must be 1–5');
    if (score.reason.trim() === '') at(`assessment ${name}`, 'needs a reason');
  }
  return problems;
}
