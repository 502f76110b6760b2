import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { longVideoStatusSchema, maxSegments } from "../api/long-video-status.ts";
import type { FilmStatus, SegmentRecord } from "./film-snapshot.ts";
import { compactedStatus, detailedSegments, expandedStatus, samePlanHash } from "./status-compaction.ts";

const hex = (n: number, salt: string) =>
  createHash("sha256")
    .update(`${salt}${String(n)}`)
    .digest("hex");
const digest = (n: number) => `sha256:${hex(n, "d")}`;

/** A film of `count` segments, all rendered but the last, which runs, written as the reconciler writes it. */
function film(count: number): FilmStatus {
  const segments: SegmentRecord[] = Array.from({ length: count }, (_, index) => ({
    index,
    attempt: index % 3,
    failures: index % 3,
    state: index === count - 1 ? "Running" : "Succeeded",
    hash: hex(index, "a"),
    node: `kwok-h100-${String(index % 16)}`,
    startTime: "2026-11-25T12:00:00Z",
    ...(index === count - 1 ? {} : { finishTime: "2026-11-25T12:01:00Z", outputDigest: digest(index), frames: 81 }),
    inputDigest: index === 0 ? "" : digest(index - 1),
    ...(index === 7 ? { handoffLosses: 1 } : {}),
  }));
  return { phase: "Rendering", progress: `${String(count - 1)}/${String(count)}`, segments };
}

const bytes = (status: FilmStatus) => Buffer.byteLength(JSON.stringify(status));

describe("status compaction", () => {
  it("leaves a film of a few segments as it is", () => {
    const status = film(detailedSegments);
    expect(compactedStatus(status)).toEqual(status);
  });

  it("keeps a film of the most segments the spec allows well inside etcd's 1.5 MiB, which whole records pass", () => {
    const status = film(maxSegments);
    const compact = compactedStatus(status);
    expect(bytes(status)).toBeGreaterThan(1.5 * 1024 * 1024);
    expect(bytes(compact)).toBeLessThan(1024 * 1024);
    expect(compact.renderedSegments).toHaveLength(maxSegments - 1 - detailedSegments);
    expect(compact.segments?.map((r) => r.index)).toEqual(
      Array.from({ length: detailedSegments + 1 }, (_, i) => maxSegments - 1 - detailedSegments + i),
    );
    // What the API server's schema says of it (the CRD is generated from the same schema).
    expect(longVideoStatusSchema.safeParse(compact).success).toBe(true);
  });

  it("reads back every segment's chain: attempt, hash, input and output digests, and hand-off losses", () => {
    const status = film(500);
    const expanded = expandedStatus(compactedStatus(status));
    expect(expanded.renderedSegments).toBeUndefined();
    expect(expanded.segments).toHaveLength(500);
    for (const [i, record] of (expanded.segments ?? []).entries()) {
      const whole = status.segments?.[i];
      expect(record).toMatchObject({
        index: i,
        attempt: whole?.attempt,
        state: whole?.state,
        inputDigest: whole?.inputDigest,
      });
      expect(record.outputDigest).toBe(whole?.outputDigest);
      expect(samePlanHash(record.hash, whole?.hash ?? "")).toBe(true);
    }
    expect(expanded.segments?.[7]?.handoffLosses).toBe(1);
    // Compacting what was read back writes the same thing: a film at rest causes no writes.
    expect(compactedStatus(expanded)).toEqual(compactedStatus(status));
  });

  it("reads back a keyframed chain's start as consuming nothing, and its hash as the plan's", () => {
    const status = film(200);
    const starts = new Set([50, 120]);
    const segments = (status.segments ?? []).map((r) => (starts.has(r.index) ? { ...r, inputDigest: "" } : r));
    const compact = compactedStatus({ ...status, segments });
    expect(compact.renderedSegments?.[50]).toMatch(/^\d+\/\d+\/-[0-9a-f]{16}\//);
    expect(longVideoStatusSchema.safeParse(compact).success).toBe(true);
    const expanded = expandedStatus(compact);
    for (const index of [49, 50, 51, 120, 121]) {
      expect(expanded.segments?.[index]?.inputDigest).toBe(segments[index]?.inputDigest);
      expect(samePlanHash(expanded.segments?.[index]?.hash ?? "", segments[index]?.hash ?? "")).toBe(true);
    }
    expect(compactedStatus(expanded)).toEqual(compact);
  });

  it("ends the chain at an entry it cannot read, and tells an edited plan hash from a cut-short one", () => {
    const compact = compactedStatus(film(100));
    const broken = {
      ...compact,
      renderedSegments: (compact.renderedSegments ?? []).map((e, i) => (i === 5 ? "?" : e)),
    };
    const expanded = expandedStatus(broken);
    expect(expanded.segments?.filter((r) => r.index < 60).map((r) => r.index)).toEqual([0, 1, 2, 3, 4]);
    expect(samePlanHash(hex(3, "a").slice(0, 16), hex(3, "a"))).toBe(true);
    expect(samePlanHash(hex(3, "a").slice(0, 16), hex(3, "b"))).toBe(false);
    expect(samePlanHash("aa", "aab")).toBe(false);
  });
});
