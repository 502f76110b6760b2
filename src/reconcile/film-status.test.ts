import { describe, expect, it } from "vitest";
import type { FilmIntent, FilmSnapshot, SegmentRecord } from "./film-snapshot.ts";
import { filmStatus, statusChanged } from "./film-status.ts";
import type { StatusFacts } from "./film-status.ts";

const now = new Date("2026-11-25T12:00:00.000Z");
const intent = {
  segments: [0, 1, 2].map((index) => ({ index, hash: `h${String(index)}`, keptFrames: 76, env: {} })),
  suspend: false,
  retry: { limit: 2, baseDelayMs: 1000, maxDelayMs: 1000 },
} as unknown as FilmIntent;
const snapshot = (conditions: { type: string }[] = []): FilmSnapshot =>
  ({
    now,
    film: {
      name: "bay",
      namespace: "films",
      uid: "u",
      generation: 2,
      deleting: false,
      finalizers: [],
      status: { conditions },
    },
  }) as unknown as FilmSnapshot;
const record = (state: SegmentRecord["state"], attempt: number, message?: string): SegmentRecord => ({
  index: 1,
  attempt,
  state,
  hash: "h1",
  ...(message ? { message } : {}),
});
const facts = (records: SegmentRecord[], overrides: Partial<StatusFacts> = {}): StatusFacts => ({
  phase: "Rendering",
  progress: {
    records,
    valid: 1,
    chains: [{ first: 0, last: 2, valid: 1, nextInput: "sha256:l0" }],
    ended: [],
    events: [],
  },
  output: undefined,
  failure: undefined,
  running: false,
  ...overrides,
});
const degraded = (status: ReturnType<typeof filmStatus>) => status.conditions?.find((c) => c.type === "Degraded");

describe("filmStatus", () => {
  it.each([
    {
      name: "a film whose segments render at their first attempt is not Degraded",
      records: [record("Running", 0)],
      expected: { status: "False", reason: "NotDegraded" },
    },
    {
      name: "a failed attempt with retries left shows as Retrying and makes the film Degraded, quoting the failure",
      records: [record("Failed", 0, "CUDA out of memory")],
      expected: {
        status: "True",
        reason: "SegmentRetrying",
        message: "segment 1 failed 1 time(s) and is retried: CUDA out of memory",
      },
    },
    {
      name: "a retry that is running keeps the film Degraded",
      records: [record("Running", 1)],
      expected: { status: "True", reason: "SegmentRetrying", message: "segment 1 failed 1 time(s) and is retried" },
    },
  ])("$name", ({ records, expected }) => {
    const status = filmStatus(snapshot(), intent, facts(records));
    expect(degraded(status)).toMatchObject(expected);
    expect(status.segments?.[0]?.state).toBe(records[0]?.state === "Failed" ? "Retrying" : records[0]?.state);
  });

  it("a failed film is Failed, not Degraded", () => {
    const status = filmStatus(
      snapshot(),
      intent,
      facts([record("Failed", 2, "x")], { phase: "Failed", failure: { reason: "RetriesExhausted", message: "x" } }),
    );
    expect(degraded(status)).toMatchObject({ status: "False" });
    expect(status.conditions?.find((c) => c.type === "Failed")).toMatchObject({
      status: "True",
      reason: "RetriesExhausted",
    });
  });

  it("carries a Suspended condition only once the film was ever suspended", () => {
    const types = (s: ReturnType<typeof filmStatus>) => s.conditions?.map((c) => c.type);
    expect(types(filmStatus(snapshot(), intent, facts([])))).not.toContain("Suspended");
    const resumed = filmStatus(snapshot([{ type: "Suspended" }]), intent, facts([]));
    expect(resumed.conditions?.find((c) => c.type === "Suspended")).toMatchObject({
      status: "False",
      reason: "NotSuspended",
    });
  });

  it("stamps every condition with the generation it describes", () => {
    const status = filmStatus(snapshot(), intent, facts([]));
    expect(status.conditions?.every((c) => c.observedGeneration === 2)).toBe(true);
    expect(status.observedGeneration).toBe(2);
  });

  it("sees no change in a status whose fields come back in another order", () => {
    const status = filmStatus(snapshot(), intent, facts([]));
    const reordered = Object.fromEntries(Object.entries(status).reverse());
    expect(statusChanged(status, reordered)).toBe(false);
    expect(statusChanged(status, { ...status, progress: "2/3" })).toBe(true);
  });
});
