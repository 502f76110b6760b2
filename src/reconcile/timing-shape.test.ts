import { describe, expect, it } from "vitest";
import { defaultOperatorFilmPolicy } from "../api/film-policy.ts";
import type { SegmentRecord } from "./film-snapshot.ts";
import { filmIntent } from "./film-intent.ts";
import type { IntentDefaults } from "./film-intent.ts";
import { timedRecords, timingShape } from "./timing-shape.ts";

const defaults: IntentDefaults = {
  nodeSelector: { "longvideo.dev/pool": "a100" },
  tolerations: [],
  modelCacheClaim: "shared-models",
  checkModelCache: false,
  backend: "svi",
  policy: defaultOperatorFilmPolicy,
  warmStart: { maxLeadMs: 600_000, marginMs: 5_000, maxAhead: 3 },
};

const base = {
  variant: "film",
  referenceImage: { url: "https://images.example.com/a.png" },
  storyline: [{ prompt: "dawn over the bay", clips: 3 }],
  render: { backend: "svi", resolution: { width: 320, height: 256 }, framesPerClip: 33, steps: 4 },
};

/** The timing shape of a film `name` in `namespace` with the spec's fields replaced by `changes`. */
function shapeOf(changes: Record<string, unknown>, name = "bay", namespace = "studio"): string {
  const result = filmIntent({ name, namespace, spec: { ...base, ...changes } }, defaults);
  if (!result.ok) throw new Error(JSON.stringify(result));
  return timingShape(result.intent);
}

describe("timingShape", () => {
  it("is the same for films that differ only in what changes the pictures, not the time", () => {
    const shape = shapeOf({});
    expect(shapeOf({}, "other-film", "other-team")).toBe(shape);
    expect(shapeOf({ storyline: [{ prompt: "gulls over the harbour at dusk", clips: 7 }] })).toBe(shape);
    expect(shapeOf({ referenceImage: { url: "https://images.example.com/b.png" } })).toBe(shape);
    expect(shapeOf({ render: { ...base.render, seed: 7, warmStart: false } })).toBe(shape);
  });

  it("differs with the pool, the resources, the backend, the size of a clip and its steps", () => {
    const shape = shapeOf({});
    const others = [
      shapeOf({ gpu: { nodeSelector: { "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3" } } }),
      shapeOf({ gpu: { count: 2 } }),
      shapeOf({ resources: { limits: { cpu: "4" } } }),
      shapeOf({ render: { ...base.render, backend: "animatic" } }),
      shapeOf({ render: { ...base.render, resolution: { width: 640, height: 512 } } }),
      shapeOf({ render: { ...base.render, framesPerClip: 49 } }),
      shapeOf({ render: { ...base.render, steps: 8 } }),
      shapeOf({ variant: "pro" }),
    ];
    for (const [i, other] of others.entries()) expect(other, `change ${String(i)}`).not.toBe(shape);
    expect(new Set(others).size).toBe(others.length);
  });
});

describe("timedRecords", () => {
  const record = (index: number, finished: number, timed = true): SegmentRecord => ({
    index,
    attempt: 0,
    hash: `h${String(index)}`,
    state: "Succeeded",
    finishTime: new Date(Date.UTC(2026, 11, 3, 6, 0, finished)).toISOString(),
    ...(timed
      ? {
          phases: { ready: 3, wait: 0, denoise: 1, decode: 1, encode: 0.1 },
          denoiseStartedAt: "2026-12-03T05:59:00.000Z",
          committedAt: "2026-12-03T05:59:02.000Z",
        }
      : {}),
  });

  it("keeps the latest eight segments that reported their phases, oldest first", () => {
    const records = [
      ...Array.from({ length: 10 }, (_, i) => record(i, 20 - i)),
      record(10, 59, false),
      { ...record(11, 58), state: "Failed" as const },
    ];
    expect(timedRecords(records).map((r) => r.index)).toEqual([7, 6, 5, 4, 3, 2, 1, 0]);
    expect(timedRecords([record(0, 1, false)])).toEqual([]);
  });
});
