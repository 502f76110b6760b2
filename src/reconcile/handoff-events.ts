/**
 * One event per hand-off instead of two. When a segment's success and the first attempt of what follows it (its
 * chain's next segment, or the concatenation) are decided together, the start is told in the success's event
 * rather than in an event of its own: at one event per segment, events were a third of the operator's requests
 * (docs/adr/0008). A start that follows no success in the same decision (a chain's first segment, a retry, a warm
 * start, a start held back by a backoff or the parallelism) keeps its own event.
 */
import { EventReason } from "./film-conditions.ts";
import type { FollowUpAction } from "./film-snapshot.ts";

type EventAction = Extract<FollowUpAction, { kind: "event" }>;

/** The actions with each hand-off's start event folded into its predecessor's success event. */
export function handoffEvents(actions: readonly FollowUpAction[]): FollowUpAction[] {
  const told: (FollowUpAction | undefined)[] = [...actions];
  actions.forEach((action, i) => {
    const start = actions[i + 1];
    const follows = handoffStart(action);
    if (follows === undefined || start?.kind !== "event" || !isStartEvent(start)) return;
    const success = predecessorEvent(told, follows.predecessor);
    const event = success === undefined ? undefined : told[success];
    if (success === undefined || event?.kind !== "event") return;
    told[success] = { ...event, message: `${event.message}; ${follows.what} follows (${follows.name})` };
    told[i + 1] = undefined;
  });
  return told.filter((action) => action !== undefined);
}

/** What a first attempt follows, if it is one that continues from a predecessor's success. */
function handoffStart(
  action: FollowUpAction,
): { readonly predecessor: number | "any"; readonly what: string; readonly name: string } | undefined {
  if (action.kind === "createSegmentJob") {
    const { segment, attempt, inputFrom, name } = action;
    if (attempt !== 0 || segment.chainStart || inputFrom !== undefined) return undefined;
    return { predecessor: segment.index - 1, what: `segment ${String(segment.index)}`, name };
  }
  if (action.kind === "createConcatJob" && action.attempt === 0) {
    // The concatenation follows every chain's last segment; the one that ended last is told.
    return { predecessor: "any", what: "the concatenation", name: action.name };
  }
  return undefined;
}

function isStartEvent(event: EventAction): boolean {
  return event.reason === EventReason.SegmentStarted || event.reason === EventReason.ConcatenationStarted;
}

/** Where the success event of `predecessor` is (of the last segment to succeed, for "any"). */
function predecessorEvent(
  actions: readonly (FollowUpAction | undefined)[],
  predecessor: number | "any",
): number | undefined {
  let found: { index: number; segment: number } | undefined;
  actions.forEach((action, index) => {
    if (action?.kind !== "event" || action.succeeded === undefined) return;
    if (predecessor !== "any" && action.succeeded !== predecessor) return;
    if (!found || action.succeeded > found.segment) found = { index, segment: action.succeeded };
  });
  return found?.index;
}
