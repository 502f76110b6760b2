import { describe, expect, it } from "vitest";
import { filmEvent } from "./film-event.ts";

describe("filmEvent", () => {
  const film = { name: "bay", namespace: "films", uid: "u1", generation: 4 };
  const note = { type: "Warning", reason: "SegmentRetrying", message: "segment 1 failed" } as const;
  const now = new Date("2026-11-25T12:00:00.123Z");

  it("is about the film, with the reason, note and a microsecond time", () => {
    expect(filmEvent(film, note, now)).toMatchObject({
      apiVersion: "events.k8s.io/v1",
      metadata: { namespace: "films" },
      eventTime: "2026-11-25T12:00:00.123000Z",
      reason: "SegmentRetrying",
      note: "segment 1 failed",
      type: "Warning",
      regarding: { kind: "LongVideo", name: "bay", uid: "u1", namespace: "films" },
    });
  });

  it("is named after what it says about which version of the film, so a repeated decision cannot post it twice", () => {
    const name = (e: Record<string, unknown>) => (e.metadata as { name: string }).name;
    const first = name(filmEvent(film, note, now));
    expect(name(filmEvent(film, note, new Date(0)))).toBe(first);
    expect(name(filmEvent({ ...film, generation: 5 }, note, now))).not.toBe(first);
    expect(name(filmEvent(film, { ...note, message: "segment 2 failed" }, now))).not.toBe(first);
    expect(name(filmEvent({ ...film, name: "x".repeat(80) }, note, now)).length).toBeLessThanOrEqual(63);
  });

  it("keeps a note to Kubernetes' 1 KiB", () => {
    const long = filmEvent(film, { ...note, message: "y".repeat(5000) }, now);
    expect((long.note as string).length).toBe(1024);
  });
});
