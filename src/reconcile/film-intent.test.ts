import { describe, expect, it } from "vitest";
import { operatorEnvNames } from "../api/runtime-contract.ts";
import { filmIntent } from "./film-intent.ts";
import type { IntentDefaults } from "./film-intent.ts";
import { workspaceClaimName } from "./object-names.ts";

const defaults: IntentDefaults = {
  nodeSelector: { "longvideo.dev/pool": "a100" },
  tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
  modelCacheClaim: "shared-models",
  backend: "svi",
};

const spec = {
  variant: "film",
  referenceImage: { url: "https://images.example.com/a.png" },
  storyline: [
    { prompt: "dawn over the bay", clips: 2 },
    { prompt: "gulls take off", clips: 1 },
  ],
  render: { backend: "animatic" },
};

describe("filmIntent", () => {
  it("bounds every attempt by the spec's deadline, or the backend's default", () => {
    const deadline = (render: Record<string, unknown>, backend: "svi" | "animatic" = "svi") => {
      const result = filmIntent({ name: "bay", spec: { ...spec, render } }, { ...defaults, backend });
      if (!result.ok) throw new Error(JSON.stringify(result.errors));
      return result.intent.deadlineSeconds;
    };
    expect(deadline({ backend: "animatic" })).toBe(600);
    expect(deadline({ backend: "svi" })).toBe(7200);
    expect(deadline({}, "animatic")).toBe(600);
    expect(deadline({ backend: "svi", deadlineSeconds: 900 })).toBe(900);
  });

  it("sets exactly the runtime contract's operator variables, but those known only when a job is created", () => {
    const result = filmIntent({ name: "bay", spec }, defaults);
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    // Known only when a job is created: the digests handed over and the attempt.
    const perJob = ["LV_INPUT_DIGEST", "LV_ATTEMPT", "LV_FINAL_DIGEST"];
    const expected = (command: "segment" | "concat") =>
      operatorEnvNames(command)
        .filter((name) => !perJob.includes(name))
        .sort();
    for (const segment of result.intent.segments) expect(Object.keys(segment.env).sort()).toEqual(expected("segment"));
    expect(Object.keys(result.intent.concat.env).sort()).toEqual(expected("concat"));
  });

  it("plans one segment per clip with the segment contract in each environment", () => {
    const result = filmIntent({ name: "bay", spec }, defaults);
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    const { segments, concat } = result.intent;
    expect(segments.map((s) => s.index)).toEqual([0, 1, 2]);
    expect(segments[2]?.env).toMatchObject({
      LV_SEGMENT_INDEX: "2",
      LV_SCENE_INDEX: "1",
      LV_PROMPT: "gulls take off",
      LV_SEED: "84",
      LV_FRAMES: "81",
      LV_BACKEND: "animatic",
      LV_VARIANT: "film",
      LV_SEGMENT_COUNT: "3",
      LV_WORKSPACE: "/workspace",
    });
    expect(new Set(segments.map((s) => s.hash)).size).toBe(3);
    expect(concat.frames).toBe(segments.reduce((sum, s) => sum + s.keptFrames, 0));
    expect(concat.path).toBe("/workspace/film.mp4");
  });

  it("falls back to the operator's pool defaults and mounts no model cache for the animatic backend", () => {
    const result = filmIntent({ name: "bay", spec }, defaults);
    if (!result.ok) throw new Error("expected a valid spec");
    expect(result.intent.placement).toMatchObject({
      nodeSelector: defaults.nodeSelector,
      tolerations: defaults.tolerations,
    });
    expect(result.intent.modelsClaim).toBeUndefined();
    expect(result.intent.workspace).toMatchObject({ claimName: "bay-workspace", retainOnDelete: false });
  });

  it("takes placement, retries and retention from the spec when given", () => {
    const result = filmIntent(
      {
        name: "bay",
        spec: {
          ...spec,
          render: { backend: "svi" },
          gpu: { nodeSelector: { "longvideo.dev/pool": "h100" }, count: 2, queueName: "gpu" },
          retry: { limit: 5, backoff: { initialSeconds: 2, maxSeconds: 30 } },
          storage: { workspace: { whenDeleted: "Retain" }, models: { claimName: "svi-weights" } },
        },
      },
      defaults,
    );
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    expect(result.intent.placement).toMatchObject({
      nodeSelector: { "longvideo.dev/pool": "h100" },
      count: 2,
      queueName: "gpu",
    });
    expect(result.intent.retry).toEqual({ limit: 5, baseDelayMs: 2000, maxDelayMs: 30_000 });
    expect(result.intent.workspace.retainOnDelete).toBe(true);
    expect(result.intent.modelsClaim).toBe("svi-weights");
  });

  it("renders with the operator's default backend when the film names none, and with the film's when it does", () => {
    const unset = { variant: spec.variant, referenceImage: spec.referenceImage, storyline: spec.storyline };
    const backendOf = (film: unknown, backend: "svi" | "animatic") => {
      const result = filmIntent({ name: "bay", spec: film }, { ...defaults, backend });
      if (!result.ok) throw new Error(JSON.stringify(result.errors));
      return [result.intent.backend, result.intent.segments[0]?.env.LV_BACKEND, result.intent.modelsClaim];
    };
    expect(backendOf(unset, "animatic")).toEqual(["animatic", "animatic", undefined]);
    expect(backendOf(unset, "svi")).toEqual(["svi", "svi", "shared-models"]);
    expect(backendOf(spec, "svi")).toEqual(["animatic", "animatic", undefined]);
  });

  it("asks for a model cache claim for svi when neither the film nor the operator names one", () => {
    const svi = { ...spec, render: { backend: "svi" } };
    const result = filmIntent({ name: "bay", spec: svi }, { ...defaults, modelCacheClaim: "" });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors[0]?.message).toMatch(/modelCache/);
    expect(result.errors).toEqual([expect.objectContaining({ path: "spec.storage.models.claimName" })]);
    const withClaim = filmIntent(
      { name: "bay", spec: { ...svi, storage: { models: { claimName: "weights" } } } },
      { ...defaults, modelCacheClaim: "" },
    );
    expect(withClaim.ok && withClaim.intent.modelsClaim).toBe("weights");
  });

  it("reports what is wrong with a spec by field path, as the API server would", () => {
    const result = filmIntent(
      { name: "bay", spec: { ...spec, render: { backend: "animatic", framesPerClip: 80 } } },
      defaults,
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toContainEqual(expect.objectContaining({ path: "spec.render.framesPerClip" }));
    expect(result.errors.map((e) => e.message).join(" ")).toContain("4n+1");
  });

  it("mounts a config map or claim reference image at the runtime's reference directory, and no volume for a url", () => {
    const intentOf = (referenceImage: unknown) => {
      const result = filmIntent({ name: "bay", spec: { ...spec, referenceImage } }, defaults);
      if (!result.ok) throw new Error(JSON.stringify(result.errors));
      return result.intent;
    };
    const fromMap = intentOf({ configMap: { name: "stills", key: "first.png" } });
    expect(fromMap.reference).toEqual({ kind: "configMap", name: "stills" });
    expect(fromMap.segments[0]?.env).toMatchObject({ LV_REFERENCE_DIR: "/reference" });
    expect(JSON.parse(fromMap.segments[0]?.env.LV_REFERENCE_IMAGE ?? "null")).toEqual({
      configMap: { name: "stills", key: "first.png" },
    });
    expect(intentOf({ pvc: { claimName: "frames", path: "a/first.png" } }).reference).toEqual({
      kind: "pvc",
      claimName: "frames",
    });
    expect(intentOf({ url: "https://images.example.com/a.png" }).reference).toBeUndefined();
  });

  it("keeps workspace claim names within 63 characters", () => {
    expect(workspaceClaimName("x".repeat(63)).length).toBeLessThanOrEqual(63);
  });
});
