/**
 * Condition types and reasons the operator writes on a LongVideo, and the rule that keeps their transition
 * times honest: a condition's lastTransitionTime changes only when its status does.
 */
import type { Condition } from "./film-snapshot.ts";

// The condition vocabulary belongs to the API (src/api); the reconciler only speaks it.
export { ConditionReason, ConditionType } from "../api/long-video-status.ts";

export const EventReason = {
  InvalidSpec: "InvalidSpec",
  /** The film asks for more than its film policy allows; nothing is created until it (or the policy) changes. */
  PolicyRefused: "PolicyRefused",
  /** The film's audio or skeleton video cannot be read (the message names the field); nothing is planned. */
  InputUnreadable: "InputUnreadable",
  /** The svi film's model cache lacks files its variant needs or holds wrong ones (listed); checked again later. */
  ModelCacheIncomplete: "ModelCacheIncomplete",
  /** The probe Job read the film's inputs: their durations are in status.inputs and the film is planned. */
  InputsRead: "InputsRead",
  /**
   * A segment's attempt started where no success comes with it (a chain's first segment, a retry, a warm start); a
   * hand-off's start is told in its predecessor's SegmentSucceeded event (handoff-events.ts).
   */
  SegmentStarted: "SegmentStarted",
  /** An attempt's job disappeared before it ended; a new attempt replaces it without spending a retry. */
  SegmentLost: "SegmentLost",
  /** The scheduler finds no node for a segment's (or the concatenation's) pod. */
  SegmentUnschedulable: "SegmentUnschedulable",
  SegmentSucceeded: "SegmentSucceeded",
  SegmentRetrying: "SegmentRetrying",
  SegmentFailed: "SegmentFailed",
  SegmentsInvalidated: "SegmentsInvalidated",
  ConcatenationStarted: "ConcatenationStarted",
  FilmConcatenated: "FilmConcatenated",
  FilmFailed: "FilmFailed",
  WorkspaceRetained: "WorkspaceRetained",
  /** The workspace claim is a new one (the old one was deleted): what was rendered into the old one is redone. */
  WorkspaceReplaced: "WorkspaceReplaced",
} as const;

export type ConditionDraft = Omit<Condition, "lastTransitionTime" | "observedGeneration">;

/**
 * The new conditions, keeping each previous transition time whose status did not change; conditions not drafted
 * are dropped (a type that no longer applies is not left behind with a stale status).
 */
export function mergedConditions(
  previous: readonly Condition[],
  drafts: readonly ConditionDraft[],
  now: string,
  generation: number,
): Condition[] {
  return drafts.map((draft) => {
    const before = previous.find((c) => c.type === draft.type);
    const lastTransitionTime = before?.status === draft.status ? before.lastTransitionTime : now;
    return { ...draft, lastTransitionTime, observedGeneration: generation };
  });
}
