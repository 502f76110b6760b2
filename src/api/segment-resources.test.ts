import { describe, expect, it } from "vitest";
import { backends } from "./long-video-spec.ts";
import { compareQuantities, quantityBytes } from "./quantity.ts";
import {
  defaultSegmentResources,
  hostMemoryNeeds,
  modelFootprints,
  runtimeHostBytes,
  segmentResourceDefaults,
} from "./segment-resources.ts";
import type { ModelFootprint, SegmentResources } from "./segment-resources.ts";
import { variantProfiles, variants } from "./variant-profiles.ts";

const gib = 2 ** 30;
const bytes = (quantity: string) => {
  const value = quantityBytes(quantity);
  if (value === undefined) throw new Error(`${quantity} is not a size`);
  return value;
};
const footprintOf = (variant: (typeof variants)[number]): ModelFootprint => {
  const footprint = modelFootprints[variantProfiles[variant].weights.model];
  if (!footprint) throw new Error(`no footprint for ${variant}'s model`);
  return footprint;
};
const every = (): [string, SegmentResources][] => [
  ...variants.map((v): [string, SegmentResources] => [`svi ${v}`, segmentResourceDefaults.svi[v]]),
  ["animatic", segmentResourceDefaults.animatic],
];

describe("the host memory a segment needs", () => {
  it("adds up Wan 2.1 I2V 14B: the transformer, both encoders, the VAE, a loading shard and the process", () => {
    const { peak, steady } = hostMemoryNeeds(footprintOf("film"));
    // 32.8 + 11.4 + 1.26 + 0.508 + 10 GB, plus 3 GiB.
    expect(peak / gib).toBeCloseTo(55.12, 1);
    // The encoders stay on the CPU; the process and a clip's frames beside them.
    expect(steady / gib).toBeCloseTo(16.79, 1);
  });

  it("counts both Wan 2.2 A14B experts while loading, and the idle one while sampling", () => {
    const { peak, steady } = hostMemoryNeeds(footprintOf("pro"));
    // 2 x 28.6 + 11.4 + 0.508 + 10 GB, plus 3 GiB.
    expect(peak / gib).toBeCloseTo(76.68, 1);
    expect(steady / gib).toBeCloseTo(42.25, 1);
    // The expert switch holds both experts too, without a loading shard but with a clip's frames.
    const expert = footprintOf("pro").transformerBytes;
    const switching = 2 * expert + 11.4e9 + runtimeHostBytes.process + runtimeHostBytes.clipBuffers;
    expect(peak).toBeGreaterThan(switching);
    expect(steady).toBeGreaterThan(expert);
  });

  it("knows the model every variant loads by default", () => {
    expect(variants.map((v) => footprintOf(v).transformers)).toEqual(
      variants.map((v) => (variantProfiles[v].weights.lora2 === "" ? 1 : 2)),
    );
  });
});

describe("segment resource defaults", () => {
  it.each(variants)("let svi %s load its weights with a full /dev/shm and 15%% to spare", (variant) => {
    const defaults = segmentResourceDefaults.svi[variant];
    const { peak } = hostMemoryNeeds(footprintOf(variant));
    const needed = peak + bytes(defaults.sharedMemory);
    expect(bytes(defaults.memory.limit)).toBeGreaterThanOrEqual(1.15 * needed);
    // Not wildly more: the limit is what a node must be able to give a pod that loads.
    expect(bytes(defaults.memory.limit)).toBeLessThanOrEqual(1.4 * needed);
  });

  it.each(variants)("reserve for svi %s what sampling holds, and no more than a loading peak", (variant) => {
    const defaults = segmentResourceDefaults.svi[variant];
    const { peak, steady } = hostMemoryNeeds(footprintOf(variant));
    expect(bytes(defaults.memory.request)).toBeGreaterThanOrEqual(steady);
    expect(bytes(defaults.memory.request)).toBeLessThan(steady + 2 * gib);
    expect(bytes(defaults.memory.request)).toBeLessThan(peak);
  });

  it("size pro above film: two experts", () => {
    const { film, pro } = segmentResourceDefaults.svi;
    expect(compareQuantities(pro.memory.request, film.memory.request)).toBe(1);
    expect(compareQuantities(pro.memory.limit, film.memory.limit)).toBe(1);
  });

  it("keep the animatic backend small: its measured peak is 1.0 GiB at 1280x720 x 121 frames", () => {
    const animatic = segmentResourceDefaults.animatic;
    expect(bytes(animatic.memory.limit)).toBeGreaterThanOrEqual(2 * gib);
    expect(bytes(animatic.memory.limit)).toBeLessThanOrEqual(4 * gib);
    expect(compareQuantities(animatic.cpu.request, "1")).toBeLessThanOrEqual(0);
    for (const variant of variants) {
      expect(compareQuantities(animatic.memory.limit, segmentResourceDefaults.svi[variant].memory.request)).toBe(-1);
    }
  });

  it.each(every())("are a valid pair for %s: requests within limits, /dev/shm within the memory limit", (_, r) => {
    expect(compareQuantities(r.cpu.request, r.cpu.limit)).toBeLessThanOrEqual(0);
    expect(compareQuantities(r.memory.request, r.memory.limit)).toBeLessThanOrEqual(0);
    expect(compareQuantities(r.sharedMemory, r.memory.limit)).toBe(-1);
  });

  it("are chosen by backend first, then by variant", () => {
    for (const variant of variants) {
      expect(defaultSegmentResources(variant, "svi")).toBe(segmentResourceDefaults.svi[variant]);
      expect(defaultSegmentResources(variant, "animatic")).toBe(segmentResourceDefaults.animatic);
    }
    expect(backends).toEqual(["svi", "animatic"]);
  });
});

describe("segment resource defaults for several GPUs (one rank each)", () => {
  it("keep the one-GPU table at one GPU, and the animatic set whatever the count", () => {
    for (const variant of variants) {
      expect(defaultSegmentResources(variant, "svi", 1)).toEqual(segmentResourceDefaults.svi[variant]);
      expect(defaultSegmentResources(variant, "animatic", 4)).toEqual(segmentResourceDefaults.animatic);
    }
  });

  it("load a copy of the experts per rank and the encoders once", () => {
    const film = footprintOf("film");
    const one = hostMemoryNeeds(film, 1);
    const four = hostMemoryNeeds(film, 4);
    const perRank = film.transformerBytes + runtimeHostBytes.loadingShard + runtimeHostBytes.process;
    expect(four.peak - one.peak).toBeCloseTo(3 * perRank, -3);
    // Sampling adds a process per rank (Wan 2.1 parks no expert); Wan 2.2 parks an idle expert on every rank.
    expect(four.steady - one.steady).toBeCloseTo(3 * runtimeHostBytes.process, -3);
    const pro = footprintOf("pro");
    const proSteady = hostMemoryNeeds(pro, 4).steady - hostMemoryNeeds(pro, 1).steady;
    expect(proSteady).toBeCloseTo(3 * (pro.transformerBytes + runtimeHostBytes.process), -3);
  });

  it.each([2, 4, 8])(
    "cover %i ranks' loading peak with a full /dev/shm and 20%% to spare, and reserve sampling",
    (gpus) => {
      for (const variant of ["film", "pro"] as const) {
        const resources = defaultSegmentResources(variant, "svi", gpus);
        const { peak, steady } = hostMemoryNeeds(footprintOf(variant), gpus);
        expect(bytes(resources.memory.limit)).toBeGreaterThanOrEqual(1.2 * (peak + bytes(resources.sharedMemory)));
        expect(bytes(resources.memory.limit)).toBeLessThan(1.2 * (peak + bytes(resources.sharedMemory)) + gib);
        expect(bytes(resources.memory.request)).toBeGreaterThanOrEqual(steady);
        expect(bytes(resources.memory.request)).toBeLessThan(steady + gib);
        expect(resources.cpu).toEqual({ request: String(2 + 2 * gpus), limit: String(12 + 4 * gpus) });
        expect(resources.sharedMemory).toBe(`${String(1 + gpus)}Gi`);
      }
    },
  );

  it("grow with the count: 8 ranks of Wan 2.1 need several times one rank's memory", () => {
    const eight = defaultSegmentResources("film", "svi", 8);
    expect(compareQuantities(eight.memory.limit, segmentResourceDefaults.svi.film.memory.limit)).toBe(1);
    expect(bytes(eight.memory.limit) / bytes(segmentResourceDefaults.svi.film.memory.limit)).toBeGreaterThan(5);
  });
});
