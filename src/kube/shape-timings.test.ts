import { describe, expect, it } from "vitest";
import type { SegmentRecord } from "../api/long-video-status.ts";
import { ShapeTimings } from "./shape-timings.ts";

const records = (finishedSecond: number): SegmentRecord[] => [
  {
    index: 0,
    attempt: 0,
    hash: "h0",
    state: "Succeeded",
    finishTime: `2026-12-03T06:00:${String(finishedSecond).padStart(2, "0")}.000Z`,
  },
];

describe("ShapeTimings", () => {
  it("gives a film the latest timed segments of another film of its shape, never its own", () => {
    const timings = new ShapeTimings();
    timings.note("svi-320", "film-a", records(10));
    expect(timings.of("svi-320", "film-b")).toEqual(records(10));
    expect(timings.of("svi-320", "film-a")).toEqual([]);
    expect(timings.of("svi-640", "film-b")).toEqual([]);
  });

  it("keeps the most recent film's segments: a newer film replaces an older one, never the other way", () => {
    const timings = new ShapeTimings();
    timings.note("svi-320", "film-a", records(10));
    timings.note("svi-320", "film-b", records(20));
    expect(timings.of("svi-320", "film-c")).toEqual(records(20));
    timings.note("svi-320", "film-a", records(15));
    expect(timings.of("svi-320", "film-c")).toEqual(records(20));
    // The same film's newer segments replace its own.
    timings.note("svi-320", "film-b", records(30));
    expect(timings.of("svi-320", "film-a")).toEqual(records(30));
  });

  it("ignores a film with nothing timed", () => {
    const timings = new ShapeTimings();
    timings.note("svi-320", "film-a", []);
    expect(timings.of("svi-320", "film-b")).toEqual([]);
  });

  it("forgets the least recently noted shape beyond its bound", () => {
    const timings = new ShapeTimings();
    for (let i = 0; i <= 256; i++) timings.note(`shape-${String(i)}`, "film-a", records(10));
    expect(timings.of("shape-0", "film-b")).toEqual([]);
    expect(timings.of("shape-1", "film-b")).toEqual(records(10));
    expect(timings.of("shape-256", "film-b")).toEqual(records(10));
  });
});
