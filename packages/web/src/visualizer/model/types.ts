/**
 * The declarative model of a provisioning flow (docs/visualizer.md). One module per method holds
 * data only; every view (swimlanes, comparison, timeline, security, export) and the model test
 * read the same data, so what is drawn is what can be reviewed.
 */
import type { StandardId } from './standards.js';

/** A group of lanes that trust each other (a factory line, the operator's data centre, the field). */
export interface TrustZone {
  readonly id: string;
  readonly name: string;
  readonly description: string;
}

/** An actor is drawn as one lane; lanes of one zone are adjacent. */
export interface Actor {
  readonly id: string;
  readonly name: string;
  readonly zone: string;
  readonly description: string;
}

/**
 * How a message travels. `local` is work inside one actor (a key made on the device), the only
 * kind whose step may have from === to.
 */
export type ChannelKind = 'mtls' | 'tls' | 'ble' | 'softap' | 'optical' | 'file' | 'usb' | 'human' | 'local' | 'factory';

export interface Channel {
  readonly kind: ChannelKind;
  /** Confidential and authenticated end to end for what it carries (not merely "inside a building"). */
  readonly secure: boolean;
  /** What a reader sees on the arrow and in the legend: "mutual TLS", "plaintext BLE", "offline signed file". */
  readonly label: string;
}

/** One labelled field of the message, with an example value (never a real secret). */
export interface Field {
  readonly name: string;
  readonly example: string;
  readonly note?: string;
}

/** How firmly a step supports a standard's clause — stated no higher than it is. */
export type ClaimLevel = 'implements' | 'uses' | 'supports' | 'illustrates';

export interface StandardRef {
  readonly id: StandardId;
  readonly level: ClaimLevel;
  /** The precise claim: which clause or mechanism, and what this step does with it. */
  readonly claim: string;
}

/** A verification this step performs, and the trust anchor it rests on. */
export interface Verification {
  readonly by: string;
  readonly checks: string;
  readonly anchor: string;
}

export interface Duration {
  /** Nominal seconds, > 0. */
  readonly seconds: number;
  /** A person must act (approve, scan, carry a USB stick): drawn as a break in the timeline. */
  readonly humanWait: boolean;
}

export interface Step {
  readonly id: string;
  readonly from: string;
  readonly to: string;
  /** A short label for the arrow. */
  readonly title: string;
  /** One plain sentence: who does what. */
  readonly sentence: string;
  /** Why this step comes at this point of the order. */
  readonly why: string;
  readonly channel: Channel;
  /** The Provisio command that runs this step, as the CLI spells it (Provisio's flows only). */
  readonly command?: string;
  readonly carries: readonly Field[];
  /** What is true after the step that was not before (null when nothing persistent changes). */
  readonly stateChange: string | null;
  readonly threats: readonly string[];
  readonly mitigations: readonly string[];
  readonly residualRisk: string;
  readonly verifies: readonly Verification[];
  readonly standards: readonly StandardRef[];
  readonly duration: Duration;
}

/** A score from 1 (low) to 5 (high) with the reason behind it. */
export interface Score {
  readonly score: 1 | 2 | 3 | 4 | 5;
  readonly reason: string;
}

export interface Assessment {
  /** How much there is to build and run (5 = most complex). */
  readonly complexity: Score;
  /** Strength of the identity established and of the path to it (5 = strongest). */
  readonly security: Score;
  /** Work and waiting for people (5 = most friction). */
  readonly friction: Score;
  /** Fleet size it handles without more people (5 = largest). */
  readonly scalability: Score;
}

/**
 * A flow as every drawing view shows it: swimlanes, step panel, timeline, security, export.
 * A provisioning method (Method) adds the assessment the comparison pages score; a lifecycle flow
 * (what a provisioned device does later: renewal, reprovisioning) is a Flow only.
 */
export interface Flow {
  readonly id: string;
  readonly name: string;
  /** Provisio's own flow (implemented here) or a generic method described for comparison. */
  readonly kind: 'generic' | 'provisio';
  readonly summary: string;
  readonly bestFor: string;
  readonly zones: readonly TrustZone[];
  /** Lane order, top to bottom. */
  readonly actors: readonly Actor[];
  readonly steps: readonly Step[];
}

/** A provisioning method: how a device gets its first identity; compared and scored with the others. */
export interface Method extends Flow {
  readonly assessment: Assessment;
}

/** A lifecycle flow of Provisio's: not a way to provision, so never compared, scored or recommended. */
export interface LifecycleFlow extends Flow {
  readonly kind: 'provisio';
}
