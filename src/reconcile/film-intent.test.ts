import { describe, expect, it } from "vitest";
import { defaultOperatorFilmPolicy } from "../api/film-policy.ts";
import { longVideoSpecSchema } from "../api/long-video-spec.ts";
import { inputEnvNames, operatorEnvNames, optionEnvNames } from "../api/runtime-contract.ts";
import { filmIntent, inputsKey } from "./film-intent.ts";
import type { IntentDefaults } from "./film-intent.ts";
import { workspaceClaimName } from "./object-names.ts";

const defaults: IntentDefaults = {
  nodeSelector: { "longvideo.dev/pool": "a100" },
  tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
  modelCacheClaim: "shared-models",
  checkModelCache: false,
  backend: "svi",
  policy: defaultOperatorFilmPolicy,
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
      const result = filmIntent(
        { name: "bay", namespace: "studio", spec: { ...spec, render } },
        { ...defaults, backend },
      );
      if (!result.ok) throw new Error(JSON.stringify(result));
      return result.intent.deadlineSeconds;
    };
    expect(deadline({ backend: "animatic" })).toBe(600);
    expect(deadline({ backend: "svi" })).toBe(7200);
    expect(deadline({}, "animatic")).toBe(600);
    expect(deadline({ backend: "svi", deadlineSeconds: 900 })).toBe(900);
  });

  describe("segment resources", () => {
    const resourcesOf = (film: Record<string, unknown>, backend: "svi" | "animatic" = "svi") => {
      const result = filmIntent(
        { name: "bay", namespace: "studio", spec: { ...spec, render: {}, ...film } },
        { ...defaults, backend },
      );
      if (!result.ok) throw new Error(JSON.stringify(result));
      return result.intent.segmentResources;
    };

    it("are the variant's defaults for svi and the animatic ones for animatic, whatever the variant", () => {
      expect(resourcesOf({ variant: "film" })).toEqual({
        cpu: { request: "4", limit: "16" },
        memory: { request: "18Gi", limit: "72Gi" },
        sharedMemory: "2Gi",
      });
      expect(resourcesOf({ variant: "shot", storyline: spec.storyline.slice(0, 1) })).toEqual(
        resourcesOf({ variant: "film" }),
      );
      expect(resourcesOf({ variant: "pro" }).memory).toEqual({ request: "44Gi", limit: "96Gi" });
      const animatic = {
        cpu: { request: "500m", limit: "2" },
        memory: { request: "512Mi", limit: "2Gi" },
        sharedMemory: "64Mi",
      };
      expect(resourcesOf({ variant: "pro" }, "animatic")).toEqual(animatic);
      expect(resourcesOf({ variant: "pro", render: { backend: "animatic" } })).toEqual(animatic);
    });

    it("take each field the spec sets, as written, and the defaults for the rest", () => {
      expect(resourcesOf({ resources: { requests: { cpu: "6" }, sharedMemory: "8Gi" } })).toEqual({
        cpu: { request: "6", limit: "16" },
        memory: { request: "18Gi", limit: "72Gi" },
        sharedMemory: "8Gi",
      });
      const all = {
        requests: { cpu: "2500m", memory: "20Gi" },
        limits: { cpu: "3", memory: "1Ti" },
        sharedMemory: "1Gi",
      };
      expect(resourcesOf({ variant: "pro", resources: all })).toEqual({
        cpu: { request: "2500m", limit: "3" },
        memory: { request: "20Gi", limit: "1Ti" },
        sharedMemory: "1Gi",
      });
    });

    it("never pair a set value with a default that contradicts it", () => {
      // A request above the default limit lifts the limit; a limit below the default request lowers the request.
      expect(resourcesOf({ resources: { requests: { cpu: "32", memory: "100Gi" } } })).toMatchObject({
        cpu: { request: "32", limit: "32" },
        memory: { request: "100Gi", limit: "100Gi" },
      });
      expect(resourcesOf({ resources: { limits: { cpu: "2", memory: "8Gi" } } })).toMatchObject({
        cpu: { request: "2", limit: "2" },
        memory: { request: "8Gi", limit: "8Gi" },
      });
      // /dev/shm fits the memory limit: a larger one lifts an unset limit, a smaller set limit shrinks the default.
      expect(resourcesOf({ resources: { sharedMemory: "80Gi" } }).memory).toEqual({ request: "18Gi", limit: "80Gi" });
      expect(resourcesOf({ resources: { limits: { memory: "1Gi" } } }, "svi").sharedMemory).toBe("1Gi");
      expect(resourcesOf({ resources: { limits: { memory: "1Gi" } } }, "animatic")).toMatchObject({
        memory: { request: "512Mi", limit: "1Gi" },
        sharedMemory: "64Mi",
      });
    });

    it("refuse a request above its limit, naming the field", () => {
      const result = filmIntent(
        {
          name: "bay",
          namespace: "studio",
          spec: { ...spec, resources: { requests: { memory: "80Gi" }, limits: { memory: "72Gi" } } },
        },
        defaults,
      );
      expect(result.ok).toBe(false);
      if (result.ok || result.reason === "Probing") throw new Error(JSON.stringify(result));
      expect(result.errors).toEqual([
        {
          path: "spec.resources.requests.memory",
          message: expect.stringMatching(/less than or equal to resources.limits.memory/) as unknown,
        },
      ]);
    });
  });

  it("sets exactly the runtime contract's operator variables, but those known only when a job is created", () => {
    const result = filmIntent({ name: "bay", namespace: "studio", spec }, defaults);
    if (!result.ok) throw new Error(JSON.stringify(result));
    // Known only when a job is created: the digests handed over and the attempt; and the operator's fetch policy.
    const perJob = ["LV_INPUT_DIGEST", "LV_ATTEMPT", "LV_FINAL_DIGEST", "LV_FETCH_POLICY"];
    const expected = (command: "segment" | "concat") =>
      operatorEnvNames(command)
        .filter((name) => !perJob.includes(name))
        .sort();
    for (const segment of result.intent.segments) expect(Object.keys(segment.env).sort()).toEqual(expected("segment"));
    expect(Object.keys(result.intent.concat.env).sort()).toEqual(expected("concat"));
  });

  it("tells each segment its scene's sampling settings and LoRAs, and sets the option variables only when set", () => {
    const distilled = { path: "loras/lightx2v.safetensors", strength: 0.5, expert: "highNoise" };
    const film = {
      ...spec,
      variant: "pro",
      render: { backend: "svi", steps: 20, loras: [distilled] },
      storyline: [
        { prompt: "dawn over the bay", clips: 1 },
        { prompt: "gulls take off", clips: 1, steps: 4, guidanceScale: 1, negativePrompt: "fog", seed: 9 },
        { prompt: "night", clips: 1, loras: [{ path: "loras/ink.safetensors" }] },
      ],
    };
    const result = filmIntent({ name: "bay", namespace: "studio", spec: film }, defaults);
    if (!result.ok) throw new Error(JSON.stringify(result));
    const [first, second, third] = result.intent.segments.map((s) => s.env);
    expect(first).toMatchObject({ LV_STEPS: "20", LV_GUIDANCE_SCALE: "5", LV_SEED: "0" });
    expect(first?.LV_NEGATIVE_PROMPT).toBeUndefined();
    expect(second).toMatchObject({ LV_STEPS: "4", LV_GUIDANCE_SCALE: "1", LV_SEED: "9", LV_NEGATIVE_PROMPT: "fog" });
    expect(JSON.parse(first?.LV_LORAS ?? "null")).toEqual([distilled]);
    expect(JSON.parse(third?.LV_LORAS ?? "null")).toEqual([distilled, { path: "loras/ink.safetensors", strength: 1 }]);
    expect(optionEnvNames("segment").sort()).toEqual([
      "LV_CHAIN_START",
      "LV_INPUT_FROM",
      "LV_LORAS",
      "LV_NEGATIVE_PROMPT",
      "LV_WAIT_SECONDS",
    ]);
  });

  it("plans one segment per clip with the segment contract in each environment", () => {
    const result = filmIntent({ name: "bay", namespace: "studio", spec }, defaults);
    if (!result.ok) throw new Error(JSON.stringify(result));
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
    const result = filmIntent({ name: "bay", namespace: "studio", spec }, defaults);
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
        namespace: "studio",
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
    if (!result.ok) throw new Error(JSON.stringify(result));
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
      const result = filmIntent({ name: "bay", namespace: "studio", spec: film }, { ...defaults, backend });
      if (!result.ok) throw new Error(JSON.stringify(result));
      return [result.intent.backend, result.intent.segments[0]?.env.LV_BACKEND, result.intent.modelsClaim];
    };
    expect(backendOf(unset, "animatic")).toEqual(["animatic", "animatic", undefined]);
    expect(backendOf(unset, "svi")).toEqual(["svi", "svi", "shared-models"]);
    expect(backendOf(spec, "svi")).toEqual(["animatic", "animatic", undefined]);
  });

  it("asks for a model cache claim for svi when neither the film nor the operator names one", () => {
    const svi = { ...spec, render: { backend: "svi" } };
    const result = filmIntent({ name: "bay", namespace: "studio", spec: svi }, { ...defaults, modelCacheClaim: "" });
    expect(result.ok).toBe(false);
    if (result.ok || result.reason === "Probing") throw new Error(JSON.stringify(result));
    expect(result.errors[0]?.message).toMatch(/modelCache/);
    expect(result.errors).toEqual([expect.objectContaining({ path: "spec.storage.models.claimName" })]);
    const withClaim = filmIntent(
      { name: "bay", namespace: "studio", spec: { ...svi, storage: { models: { claimName: "weights" } } } },
      { ...defaults, modelCacheClaim: "" },
    );
    expect(withClaim.ok && withClaim.intent.modelsClaim).toBe("weights");
  });

  describe("the model cache check", () => {
    const checking = { ...defaults, checkModelCache: true };
    const svi = { ...spec, variant: "pro", render: { backend: "svi" } };
    const film = (inputs?: Parameters<typeof filmIntent>[0]["inputs"]) => ({
      name: "bay",
      namespace: "studio",
      spec: svi,
      ...(inputs ? { inputs } : {}),
    });

    it("probes an svi film's model cache before planning it, for its variant, with the claim mounted", () => {
      const result = filmIntent(film(), checking);
      if (result.ok || result.reason !== "Probing") throw new Error(JSON.stringify(result));
      expect(result.probe.env).toMatchObject({ LV_CHECK_MODELS: "pro", LV_MODELS_DIR: "/models" });
      expect(result.probe.modelsClaim).toBe("shared-models");
      expect(result.probe.fields).toEqual(["spec.storage.models.claimName"]);
      expect(result.probe.key).toBe(inputsKey({}, { claimName: "shared-models", variant: "pro" }));
      // Another claim or variant is another cache to check; a film without one keeps its old key.
      expect(inputsKey({}, { claimName: "other", variant: "pro" })).not.toBe(result.probe.key);
      expect(inputsKey({}, { claimName: "shared-models", variant: "film" })).not.toBe(result.probe.key);
      expect(inputsKey({})).not.toBe(result.probe.key);
    });

    it("checks every extra LoRA of the film and its scenes with the cache, once each, and re-probes when one is added", () => {
      const ink = { path: "loras/ink.safetensors" };
      const distilled = { path: "loras/lightx2v.safetensors", expert: "highNoise" as const };
      const withLoras = {
        ...svi,
        render: { backend: "svi", loras: [{ ...distilled, strength: 0.5 }] },
        storyline: [
          { prompt: "dawn", clips: 1, loras: [ink, { ...distilled, strength: 1 }] },
          { prompt: "dusk", clips: 1, loras: [{ ...ink, strength: 0.3 }] },
        ],
      };
      const result = filmIntent({ name: "bay", namespace: "studio", spec: withLoras }, checking);
      if (result.ok || result.reason !== "Probing") throw new Error(JSON.stringify(result));
      expect(JSON.parse(result.probe.env.LV_LORAS ?? "null")).toEqual([distilled, ink]);
      const loras = [distilled, ink] as const;
      expect(result.probe.key).toBe(inputsKey({}, { claimName: "shared-models", variant: "pro", loras }));
      expect(result.probe.key).not.toBe(inputsKey({}, { claimName: "shared-models", variant: "pro" }));
      // A probe recorded before the LoRAs were added checked none of them: the film is probed again.
      const before = inputsKey({}, { claimName: "shared-models", variant: "pro" });
      const stale = filmIntent(
        { name: "bay", namespace: "studio", spec: withLoras, inputs: { key: before, modelFiles: 21 } },
        checking,
      );
      expect(stale.ok ? "planned" : stale.reason).toBe("Probing");
    });

    it("plans the film once the probe found the files, and never probes an animatic film", () => {
      const key = inputsKey({}, { claimName: "shared-models", variant: "pro" });
      const result = filmIntent(film({ key, modelFiles: 21 }), checking);
      expect(result.ok && result.intent.modelsClaim).toBe("shared-models");
      expect(filmIntent(film({ key: "0".repeat(64), modelFiles: 21 }), checking).ok).toBe(false);
      expect(filmIntent({ ...film(), spec: { ...svi, render: { backend: "animatic" } } }, checking).ok).toBe(true);
    });

    it("reports an incomplete cache naming the claim's field, with the time of its recheck backing off", () => {
      const key = inputsKey({}, { claimName: "shared-models", variant: "pro" });
      const checkedAt = "2026-12-02T03:00:00.000Z";
      const unreadable = { field: "spec.storage.models.claimName", message: "2 problems: a: missing; b: missing" };
      const recheck = (modelChecks: number) => {
        const result = filmIntent(film({ key, unreadable, modelChecks, checkedAt }), checking);
        if (result.ok || result.reason !== "ModelCacheIncomplete") throw new Error(JSON.stringify(result));
        expect(result.errors).toEqual([{ path: unreadable.field, message: unreadable.message }]);
        expect(result.probe.key).toBe(key);
        return (result.recheckAt - Date.parse(checkedAt)) / 1000;
      };
      expect([1, 2, 3, 5, 6, 40].map(recheck)).toEqual([30, 60, 120, 480, 600, 600]);
    });
  });

  it("reports what is wrong with a spec by field path, as the API server would", () => {
    const result = filmIntent(
      { name: "bay", namespace: "studio", spec: { ...spec, render: { backend: "animatic", framesPerClip: 80 } } },
      defaults,
    );
    expect(result.ok).toBe(false);
    if (result.ok || result.reason === "Probing") throw new Error(JSON.stringify(result));
    expect(result.errors).toContainEqual(expect.objectContaining({ path: "spec.render.framesPerClip" }));
    expect(result.errors.map((e) => e.message).join(" ")).toContain("4n+1");
  });

  it("mounts a config map or claim reference image at the runtime's reference directory, and no volume for a url", () => {
    const intentOf = (referenceImage: unknown) => {
      const result = filmIntent({ name: "bay", namespace: "studio", spec: { ...spec, referenceImage } }, defaults);
      if (!result.ok) throw new Error(JSON.stringify(result));
      return result.intent;
    };
    const fromMap = intentOf({ configMap: { name: "stills", key: "first.png" } });
    expect(fromMap.segments[0]?.reference).toEqual({ kind: "configMap", name: "stills" });
    expect(fromMap.segments[0]?.env).toMatchObject({ LV_REFERENCE_DIR: "/reference" });
    expect(JSON.parse(fromMap.segments[0]?.env.LV_REFERENCE_IMAGE ?? "null")).toEqual({
      configMap: { name: "stills", key: "first.png" },
    });
    expect(intentOf({ pvc: { claimName: "frames", path: "a/first.png" } }).segments[0]?.reference).toEqual({
      kind: "pvc",
      claimName: "frames",
    });
    expect(intentOf({ url: "https://images.example.com/a.png" }).segments[0]?.reference).toBeUndefined();
  });

  it("gives a keyframed chain its keyframe as the reference image, volume and all, and marks where chains start", () => {
    const keyframe = { configMap: { name: "keys", key: "gulls.png" } };
    const keyframed = {
      ...spec,
      render: { backend: "animatic", parallelism: 2 },
      storyline: [spec.storyline[0], { ...spec.storyline[1], clips: 2, keyframe }],
    };
    const result = filmIntent({ name: "bay", namespace: "studio", spec: keyframed }, defaults);
    if (!result.ok) throw new Error(JSON.stringify(result));
    const { segments, chains, parallelism, concat } = result.intent;
    expect(chains).toEqual([
      { first: 0, last: 1 },
      { first: 2, last: 3 },
    ]);
    expect(parallelism).toBe(2);
    expect(segments.map((x) => JSON.parse(x.env.LV_REFERENCE_IMAGE ?? "null") as unknown)).toEqual([
      spec.referenceImage,
      spec.referenceImage,
      keyframe,
      keyframe,
    ]);
    expect(segments.map((x) => x.reference)).toEqual([
      undefined,
      undefined,
      { kind: "configMap", name: "keys" },
      { kind: "configMap", name: "keys" },
    ]);
    expect(segments.map((x) => x.env.LV_CHAIN_START)).toEqual([undefined, undefined, "true", undefined]);
    expect(segments.map((x) => x.chainStart)).toEqual([true, false, true, false]);
    // The film depends on both chains' ends: a change in either is a new film.
    const plain = filmIntent(
      {
        name: "bay",
        namespace: "studio",
        spec: { ...keyframed, storyline: [spec.storyline[0], { ...spec.storyline[1], clips: 2 }] },
      },
      defaults,
    );
    if (!plain.ok) throw new Error(JSON.stringify(plain));
    expect(plain.intent.chains).toEqual([{ first: 0, last: 3 }]);
    expect(plain.intent.concat.hash).not.toBe(concat.hash);
  });

  it("starts segments warm only when the operator allows it and the film does not turn it off", () => {
    const warmOf = (render: Record<string, unknown>, operator: Partial<IntentDefaults>) => {
      const result = filmIntent(
        { name: "bay", namespace: "studio", spec: { ...spec, render: { backend: "animatic", ...render } } },
        { ...defaults, ...operator },
      );
      if (!result.ok) throw new Error(JSON.stringify(result));
      return result.intent.warm;
    };
    const limits = { maxLeadMs: 600_000, marginMs: 5_000, maxAhead: 3 };
    expect(warmOf({}, { warmStart: limits })).toEqual(limits);
    expect(warmOf({ warmStart: false }, { warmStart: limits })).toBeUndefined();
    expect(warmOf({}, {})).toBeUndefined();
  });

  it("keeps workspace claim names within 63 characters", () => {
    expect(workspaceClaimName("x".repeat(63)).length).toBeLessThanOrEqual(63);
  });
});

describe("filmIntent: talk and dance", () => {
  const talk = {
    variant: "talk",
    referenceImage: { url: "https://images.example.com/a.png" },
    audio: { configMap: { name: "voice", key: "voice.wav" }, offsetSeconds: 0.2 },
    storyline: [{ prompt: "she speaks" }],
    render: { backend: "animatic", framesPerClip: 21 },
  };
  const dance = {
    variant: "dance",
    referenceImage: { url: "https://images.example.com/a.png" },
    pose: { pvc: { claimName: "poses", path: "dance.mp4" } },
    audio: { url: "https://example.com/music.mp3" },
    storyline: [{ prompt: "he dances", clips: 2 }],
    render: { backend: "animatic", framesPerClip: 21 },
  };

  it("reads the inputs first: a probe of the audio, with its volume, beside the film's pods", () => {
    const result = filmIntent({ name: "t", namespace: "studio", spec: talk }, defaults);
    if (result.ok || result.reason !== "Probing") throw new Error(JSON.stringify(result));
    expect(result.probe.env).toEqual({
      LV_WORKSPACE: "/tmp",
      LV_AUDIO: '{"configMap":{"name":"voice","key":"voice.wav"}}',
      LV_AUDIO_DIR: "/inputs/audio",
    });
    expect(result.probe.inputVolumes).toEqual({ audio: { kind: "configMap", name: "voice" } });
    expect(result.probe.placement).toMatchObject({ count: 0, nodeSelector: defaults.nodeSelector });
    expect(result.probe.fields).toEqual(["spec.audio"]);
  });

  it("plans from what the probe read: clips from the audio, each segment's window in its environment", () => {
    const key = inputsKey(talkSpec());
    // 2 s at 25 fps = 50 frames, minus the 5-frame offset: 45 frames, three 21-frame clips.
    const result = filmIntent(
      { name: "t", namespace: "studio", spec: talk, inputs: { key, audioSeconds: 2 } },
      defaults,
    );
    if (!result.ok) throw new Error(JSON.stringify(result));
    const { intent } = result;
    expect(intent.segments.map((s) => s.env.LV_AUDIO_WINDOW)).toEqual(["5:21", "25:21", "46:21"]);
    expect(intent.segments[0]?.env).toMatchObject({
      LV_AUDIO: '{"configMap":{"name":"voice","key":"voice.wav"}}',
      LV_AUDIO_DIR: "/inputs/audio",
      LV_FPS: "25",
      LV_AUDIO_GUIDANCE_SCALE: "5",
    });
    expect(intent.inputVolumes).toEqual({ audio: { kind: "configMap", name: "voice" } });
    expect(intent.concat.env).toMatchObject({ LV_AUDIO_WINDOW: "5:63", LV_EXPECTED_FRAMES: "63" });
    expect(intent.concat.audioVolume).toEqual({ kind: "configMap", name: "voice" });
    const names = Object.keys(intent.segments[0]?.env ?? {});
    expect(
      inputEnvNames("segment")
        .filter((n) => !n.startsWith("LV_POSE"))
        .every((n) => names.includes(n)),
    ).toBe(true);
  });

  it("reports an input the probe could not read like an invalid spec, naming the field", () => {
    const key = inputsKey(talkSpec());
    const unreadable = { field: "spec.audio", message: "the audio has no audio stream" };
    const result = filmIntent({ name: "t", namespace: "studio", spec: talk, inputs: { key, unreadable } }, defaults);
    expect(result).toEqual({
      ok: false,
      reason: "InputUnreadable",
      errors: [{ path: "spec.audio", message: "the audio has no audio stream" }],
    });
    // Another audio is read again.
    const other = { ...talk, audio: { url: "https://example.com/other.wav" } };
    const again = filmIntent({ name: "t", namespace: "studio", spec: other, inputs: { key, unreadable } }, defaults);
    expect(again.ok ? "planned" : again.reason).toBe("Probing");
  });

  it("gives dance segments their pose windows and the concat its music, mounting only what each reads", () => {
    const spec = longVideoSpecSchema.parse(dance);
    const inputs = { key: inputsKey(spec), audioSeconds: 30, poseFrames: 50 };
    const result = filmIntent({ name: "d", namespace: "studio", spec: dance, inputs }, defaults);
    if (!result.ok) throw new Error(JSON.stringify(result));
    const { intent } = result;
    expect(intent.segments.map((s) => s.env.LV_POSE_WINDOW)).toEqual(["0:21:true", "20:21:true"]);
    expect(intent.segments[0]?.env.LV_AUDIO).toBeUndefined();
    expect(intent.inputVolumes).toEqual({ pose: { kind: "pvc", claimName: "poses" } });
    expect(intent.concat.env).toMatchObject({
      LV_AUDIO: '{"url":"https://example.com/music.mp3"}',
      LV_AUDIO_WINDOW: "0:41",
    });
    expect(intent.concat.audioVolume).toBeUndefined();
  });

  function talkSpec() {
    return longVideoSpecSchema.parse(talk);
  }
});
