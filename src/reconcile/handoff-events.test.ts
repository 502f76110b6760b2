import { describe, expect, it } from "vitest";
import { handoffEvents } from "./handoff-events.ts";
import type { FollowUpAction, PlannedSegment } from "./film-snapshot.ts";

const segment = (index: number, chainStart = false): PlannedSegment => ({
  index,
  hash: `h${String(index)}`,
  chain: 0,
  chainStart,
  keptFrames: 76,
  env: {},
});
const success = (index: number): FollowUpAction => ({
  kind: "event",
  type: "Normal",
  reason: "SegmentSucceeded",
  message: `segment ${String(index)} rendered`,
  succeeded: index,
});
const start = (index: number, extra: { chainStart?: boolean; attempt?: number; inputFrom?: string } = {}) =>
  [
    {
      kind: "createSegmentJob",
      segment: segment(index, extra.chainStart),
      attempt: extra.attempt ?? 0,
      inputDigest: "",
      ...(extra.inputFrom === undefined ? {} : { inputFrom: extra.inputFrom }),
      name: `s${String(index)}`,
      workspaceUid: "w",
    },
    { kind: "event", type: "Normal", reason: "SegmentStarted", message: `segment ${String(index)} started` },
  ] as const satisfies FollowUpAction[];
const messages = (actions: readonly FollowUpAction[]) =>
  actions.flatMap((a) => (a.kind === "event" ? [a.message] : []));

describe("handoffEvents", () => {
  it("folds a successor's start into its predecessor's success, and keeps the job", () => {
    const told = handoffEvents([success(3), ...start(4)]);
    expect(messages(told)).toEqual(["segment 3 rendered; segment 4 follows (s4)"]);
    expect(told.map((a) => a.kind)).toEqual(["event", "createSegmentJob"]);
  });

  it("keeps the start's own event when the success is another segment's, a chain's start, a retry or a warm start", () => {
    for (const started of [
      start(5),
      start(4, { chainStart: true }),
      start(4, { attempt: 1 }),
      start(4, { inputFrom: "a" }),
    ]) {
      expect(handoffEvents([success(3), ...started])).toHaveLength(3);
    }
  });

  it("folds the concatenation's first attempt into the success of the segment that ended last", () => {
    const concat = (attempt: number): FollowUpAction[] => [
      { kind: "createConcatJob", attempt, inputDigest: "d", name: "c", workspaceUid: "w" },
      { kind: "event", type: "Normal", reason: "ConcatenationStarted", message: "concatenating" },
    ];
    expect(messages(handoffEvents([success(4), success(9), ...concat(0)]))).toEqual([
      "segment 4 rendered",
      "segment 9 rendered; the concatenation follows (c)",
    ]);
    expect(handoffEvents([success(9), ...concat(1)])).toHaveLength(3);
  });
});
