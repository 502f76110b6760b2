/**
 * End to end on the local cluster with the real model code: the chart installed with Helm renders films with the
 * svi backend on the real node (lv-local), in the CPU runtime image, from a model cache of tiny random-weight Wan
 * models (runtime-image's `longvideo_runtime.svi.tiny --layout model-cache`) on a read-only PersistentVolume.
 * Three segments per film, so the latents are handed from pod to pod twice; the variants film (Wan 2.1, pixel
 * motion frames) and pro (Wan 2.2's two experts, latent hand-off) both run, then talk (MultiTalk listening to a
 * wav2vec2 of a spoken sentence, the voice muxed into the film) and dance (the pose encoder following a looping
 * skeleton video), their inputs made by scripts/example-inputs.sh as the animatic talk/dance e2e makes them.
 *
 * The operator watches every namespace, so this file's release must never run beside another one: the e2e
 * project runs files one at a time (vitest.config.ts), this file refuses to start while another release's
 * operator exists, and it uninstalls its own in afterAll.
 */
import { createHash } from "node:crypto";
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  applyFilmObject,
  createReferenceImage,
  ensureRestrictedNamespace,
  installOperator,
  kubectl,
  loadImages,
  otherOperators,
  readFilm,
  repoRoot,
  run,
  segmentFilesDirectory,
  videoFacts,
  watchFilm,
  workspaceDirectory,
} from "./film-demo.ts";
import { buildTinyModelCache, modelCacheObjects, realNode } from "./tiny-model-cache.ts";
import { longVideoSpecVerdict } from "../../src/api/long-video.ts";
import type { Variant } from "../../src/api/variant-profiles.ts";
import type { FilmView } from "./film-demo.ts";
import { segmentPlan } from "../../src/plan/segment-plan.ts";
import type { SegmentPlan } from "../../src/plan/segment-plan.ts";

const release = { name: "lv-svi", namespace: "lv-e2e-svi-system" };
const filmsNamespace = "lv-e2e-svi-films";
/** The model cache: a host directory on the real node, a PersistentVolume pinned to it, a claim bound to that. */
const modelsDir = path.join(repoRoot, ".cache/e2e/svi-models");
const modelsVolume = "lv-e2e-svi-models";
const modelsClaim = "tiny-models";
/** A copy of the model cache with a file missing and one corrupt, on its own volume and claim. */
const brokenDir = `${modelsDir}-broken`;
const brokenVolume = "lv-e2e-svi-models-broken";
const brokenClaim = "broken-models";
const reference = { name: "svi-still", key: "image.png" };
const size = 256; // the API's smallest frame
const fpsOf = (variant: Variant) => (variant === "talk" || variant === "dance" ? 25 : 16);

/**
 * The runtime image the films run in: the CPU image imported into the node, unless LV_E2E_RUNTIME_IMAGE names
 * another for the node to pull (test/images/gpu-image-on-node.sh: the GPU image from the local registry).
 */
const runtimeImageOverride = process.env.LV_E2E_RUNTIME_IMAGE
  ? ["--set", `runtime.image=${process.env.LV_E2E_RUNTIME_IMAGE}`, "--set", "runtime.pullPolicy=IfNotPresent"]
  : [];

const say = (line: string) => {
  process.stdout.write(`[svi e2e ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
};

/** The inputs talk and dance films read besides the reference image (ConfigMaps of scripts/example-inputs.sh). */
const conditioningInputs: Partial<Record<Variant, Record<string, unknown>>> = {
  talk: { audio: { configMap: { name: "talk-inputs", key: "voice.wav" } } },
  dance: {
    pose: { configMap: { name: "dance-inputs", key: "skeleton.mp4" } },
    audio: { configMap: { name: "dance-inputs", key: "music.wav" }, offsetSeconds: 0.5 },
  },
};

/**
 * The extra LoRA the film and pro films' second scene merges (the tiny cache's `loras/tiny-style.safetensors`, in the
 * kohya form), into pro's high-noise expert alone; their third scene starts a chain of its own from a keyframe
 * (scripts/example-inputs.sh's `harbour-keyframes`), sampled at guidance 1 from a seed of its own, and renders
 * beside the first chain (parallelism 2).
 */
const styleLora = "loras/tiny-style.safetensors";
const keyframe = { configMap: { name: "harbour-keyframes", key: "lighthouse.png" } };
const chained = (variant: Variant) => variant === "film" || variant === "pro";
const sceneSettings = (variant: Variant) =>
  chained(variant)
    ? [
        { loras: [{ path: styleLora, strength: 0.8, ...(variant === "pro" ? { expert: "highNoise" } : {}) }] },
        { guidanceScale: 1, seed: 5, keyframe },
      ]
    : [{}, {}];

/** A three-scene svi film, as small and short as the API allows, reading its weights from the model cache. */
function sviFilm(variant: Variant) {
  const fps = fpsOf(variant);
  const [second, third] = sceneSettings(variant);
  return {
    apiVersion: "longvideo.dev/v1alpha1",
    kind: "LongVideo",
    metadata: { name: `tiny-${variant}` },
    spec: {
      variant,
      referenceImage: { configMap: reference },
      ...conditioningInputs[variant],
      storyline: [
        { prompt: "A lighthouse on a rock at dawn, waves breaking below.", clips: 1 },
        { prompt: "A fishing boat rounds the rock, gulls following it.", clips: 1, ...second },
        { prompt: "Night falls and the lighthouse beam sweeps the sea.", clips: 1, ...third },
      ],
      render: {
        backend: "svi",
        resolution: { width: size, height: size },
        fps,
        framesPerClip: 17,
        steps: 2,
        ...(chained(variant) ? { parallelism: 2 } : {}),
      },
      storage: { workspace: { size: "1Gi" }, models: { claimName: modelsClaim } },
      // The svi defaults are sized for the real 14B weights (18Gi and more, 4 CPUs); the real node has 2 cores and
      // tiny models peak near 0.7 GiB. Half a core requested each, so that two chains' pods fit at once.
      resources: {
        requests: { cpu: "500m", memory: "1Gi" },
        limits: { cpu: "2", memory: "4Gi" },
        sharedMemory: "256Mi",
      },
      // A failure here is a bug, not bad luck: fail at once, with the worker's message in the film's conditions.
      retry: { limit: 0 },
    },
  };
}

function planOf(spec: unknown, audioSeconds?: number): SegmentPlan {
  const verdict = longVideoSpecVerdict(spec);
  if (!verdict.ok) throw new Error(`the film is invalid: ${JSON.stringify(verdict.errors)}`);
  const planned = segmentPlan(verdict.value, audioSeconds === undefined ? {} : { inputs: { audioSeconds } });
  if (!planned.ok) throw new Error(planned.error.message);
  return planned.plan;
}

/** The metadata and tensor names in a safetensors file's header. */
function safetensorsHeader(file: string): { metadata: Record<string, string>; tensors: string[] } {
  const bytes = readFileSync(file);
  const length = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + length).toString("utf8")) as Record<string, unknown>;
  const { __metadata__: metadata, ...tensors } = header;
  return { metadata: (metadata ?? {}) as Record<string, string>, tensors: Object.keys(tensors).sort() };
}

const sha256Of = (file: string) => `sha256:${createHash("sha256").update(readFileSync(file)).digest("hex")}`;

interface SegmentPod {
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    nodeName?: string;
    volumes: { name: string; persistentVolumeClaim?: { claimName: string; readOnly?: boolean } }[];
    containers: {
      env?: { name: string; value?: string }[];
      volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
    }[];
  };
  status: { containerStatuses?: { state: { terminated?: { exitCode: number; message?: string } } }[] };
}

const segmentPods = (film: string): SegmentPod[] =>
  (
    JSON.parse(
      kubectl(
        "get",
        "pods",
        "-n",
        filmsNamespace,
        "-l",
        `longvideo.dev/film=${film},longvideo.dev/kind=segment`,
        "-o",
        "json",
      ),
    ) as { items: SegmentPod[] }
  ).items.sort(
    (a, b) => Number(a.metadata.labels["longvideo.dev/segment"]) - Number(b.metadata.labels["longvideo.dev/segment"]),
  );

type Film = FilmView & {
  readonly status?: FilmView["status"] & {
    readonly inputs?: { readonly audioSeconds?: number; readonly modelFiles?: number; readonly modelChecks?: number };
    readonly chains?: readonly { readonly first: number; readonly last: number; readonly progress: string }[];
  };
};

/** Each stream's codec, start and duration in a film, by codec type (ffprobe). */
function audioTiming(file: string): Record<string, { codec: string; start: number; duration: number }> {
  const probed = JSON.parse(
    run("ffprobe", [
      "-v",
      "error",
      "-show_entries",
      "stream=codec_type,codec_name,start_time,duration",
      "-of",
      "json",
      file,
    ]),
  ) as { streams: { codec_type: string; codec_name: string; start_time: string; duration: string }[] };
  return Object.fromEntries(
    probed.streams.map((s) => [
      s.codec_type,
      { codec: s.codec_name, start: Number(s.start_time), duration: Number(s.duration) },
    ]),
  );
}

/** How long each film took, for the report at the end. */
const timings: string[] = [];

beforeAll(() => {
  const others = otherOperators(release.namespace);
  if (others.length > 0)
    throw new Error(`another LongVideo operator is installed and would act on these films too: ${others.join(", ")}`);
  const started = Date.now();
  loadImages();
  // Helm installs a chart's CRD only where none exists: this tree's (talk and dance are new in it) is applied.
  kubectl(
    "apply",
    "--server-side",
    "--force-conflicts",
    "-f",
    path.join(repoRoot, "crds/longvideo.dev_longvideos.yaml"),
  );
  buildTinyModelCache(modelsDir);
  say(`images loaded and tiny models built in ${String(Math.round((Date.now() - started) / 1000))}s`);
}, 900_000);

afterAll(() => {
  // Films first, while the operator still runs to release their finalizers; then the operator and the model cache.
  kubectl("delete", "namespace", filmsNamespace, "--ignore-not-found", "--timeout=120s");
  run("helm", ["uninstall", release.name, "-n", release.namespace, "--wait", "--ignore-not-found"]);
  kubectl("delete", "namespace", release.namespace, "--ignore-not-found", "--wait=false");
  kubectl("delete", "persistentvolume", modelsVolume, brokenVolume, "--ignore-not-found", "--timeout=60s");
  rmSync(modelsDir, { recursive: true, force: true });
  rmSync(brokenDir, { recursive: true, force: true });
  for (const line of timings) say(line);
}, 300_000);

describe("svi films on the real node, from a model cache of tiny models", () => {
  it("installs the chart (one replica) while no other release's operator runs", () => {
    installOperator(release, ["--set", "replicaCount=1", ...runtimeImageOverride]);
    const ready = kubectl(
      "get",
      "deployment",
      "-n",
      release.namespace,
      "-l",
      "app.kubernetes.io/name=longvideo-operator",
      "-o",
      "jsonpath={.items[*].status.readyReplicas}",
    );
    expect(ready).toBe("1");
    expect(otherOperators(release.namespace)).toEqual([]);
  });

  it("serves the model cache from a read-only volume on the real node, bound to the films' claim", async () => {
    expect(existsSync(path.join(modelsDir, "Wan2.1-I2V-14B-480P-Diffusers/model_index.json"))).toBe(true);
    expect(existsSync(path.join(modelsDir, "Wan2.2-I2V-A14B-Diffusers/transformer_2/config.json"))).toBe(true);
    for (const file of [
      "svi/version-1.0/svi-talk.safetensors",
      "svi/version-1.0/svi-dance.safetensors",
      "chinese-wav2vec2-base/config.json",
      "chinese-wav2vec2-base/preprocessor_config.json",
      "MeiGen-MultiTalk/multitalk.safetensors",
    ])
      expect(existsSync(path.join(modelsDir, file)), file).toBe(true);
    ensureRestrictedNamespace(filmsNamespace);
    run("kubectl", ["apply", "-f", "-"], modelCacheObjects(modelsDir, modelsVolume, modelsClaim, filmsNamespace));
    let phase = "";
    for (let i = 0; i < 60 && phase !== "Bound"; i++) {
      phase = kubectl("get", "pvc", modelsClaim, "-n", filmsNamespace, "-o", "jsonpath={.status.phase}");
      if (phase !== "Bound") await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(phase).toBe("Bound");
    expect(kubectl("get", "pvc", modelsClaim, "-n", filmsNamespace, "-o", "jsonpath={.spec.volumeName}")).toBe(
      modelsVolume,
    );
    createReferenceImage(filmsNamespace, reference.name, reference.key, `${String(size)}x${String(size)}`);
    run("bash", [path.join(repoRoot, "scripts/example-inputs.sh"), filmsNamespace]);
  });

  for (const variant of ["film", "pro", "talk", "dance"] as const) {
    it(`renders a three-segment svi film, variant ${variant}: latents handed from pod to pod, film as planned`, async () => {
      const manifest = sviFilm(variant);
      const fps = fpsOf(variant);
      expect(planOf(manifest.spec, variant === "talk" ? 1 : undefined).totals.segments).toBe(3);
      const started = Date.now();
      const name = applyFilmObject(filmsNamespace, manifest);
      const film = await watchFilm(
        filmsNamespace,
        name,
        (f) => {
          say(`${name}: ${f.status?.phase ?? "Pending"} ${f.status?.progress ?? ""}`);
        },
        480_000,
      );
      const wall = (Date.now() - started) / 1000;
      const status = (film as Film).status;
      expect(status?.phase, JSON.stringify(status?.conditions)).toBe("Succeeded");
      // Talk and dance are planned with the audio's duration the probe measured, as the operator plans them.
      const plan = planOf(manifest.spec, status?.inputs?.audioSeconds);
      expect(plan.totals.segments).toBe(3);
      expect(plan.render.backend).toBe("svi");

      // Every segment rendered once, on the real node; each consumed exactly what its predecessor produced.
      const segments = [...(status?.segments ?? [])].sort((a, b) => a.index - b.index);
      expect(segments.map((s) => [s.index, s.state, s.node, s.attempt])).toEqual(
        plan.segments.map((s) => [s.index, "Succeeded", realNode, 0]),
      );
      const outputs = segments.map((s) => s.outputDigest ?? "");
      for (const digest of outputs) expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(new Set(outputs).size).toBe(outputs.length);
      // A chain's start (segment 0, and a keyframed scene's first clip) consumed nothing.
      const consumed = plan.segments.map((s) => (s.chainStart ? "" : (outputs[s.index - 1] ?? "")));
      expect(segments.map((s) => s.inputDigest ?? "")).toEqual(consumed);
      if (chained(variant)) {
        expect(plan.segments.map((s) => [s.chain, s.chainStart])).toEqual([
          [0, true],
          [0, false],
          [1, true],
        ]);
        expect(status?.chains).toEqual([
          { first: 0, last: 1, progress: "2/2" },
          { first: 2, last: 2, progress: "1/1" },
        ]);
        // The second chain did not wait for the first: it started while segment 0 still rendered.
        const [first, , keyframed] = segments;
        expect(Date.parse(keyframed?.startTime ?? "")).toBeLessThan(Date.parse(first?.finishTime ?? ""));
      }

      // The film in the workspace is what the plan says, frame for frame.
      expect(status?.output?.frames).toBe(plan.totals.frames);
      const workspace = workspaceDirectory(filmsNamespace, `${name}-workspace`);
      const filmFile = path.join(workspace, path.relative("/workspace", status?.output?.path ?? "/workspace/none"));
      expect(existsSync(filmFile), filmFile).toBe(true);
      const facts = videoFacts(filmFile);
      expect(facts).toMatchObject({ frames: plan.totals.frames, width: size, height: size, fps, codec: "h264" });
      expect(facts.seconds).toBeCloseTo(plan.totals.seconds, 1);

      // Each segment's handoff files, in the directory of the attempt its record names
      // (segments/<i>/<key>-<attempt>/, the key being the first 16 hex characters of sha256 over
      // "<plan hash>|<input digest>"): the latents are the digest the status records,
      // name the plan and the digest they consumed, and hold the svi protocol's tensors (an animatic handoff holds
      // only motion frames).
      const protocol = variant === "pro" ? "latent" : "pixel";
      const results: Record<string, unknown>[] = [];
      const tensors = variant === "pro" ? ["anchor_latent", "motion_latents"] : ["motion_frames"];
      expect(segments.map((s) => s.hash)).toEqual(plan.segments.map((s) => s.hash));
      for (const [i, planned] of plan.segments.entries()) {
        const record = segments[i];
        if (!record) throw new Error(`segment ${String(i)} has no status record`);
        const dir = segmentFilesDirectory(workspace, record);
        // A warm attempt (docs/adr/0026) is keyed by the attempt it followed instead of the digest it consumed.
        const input = record.inputFrom === undefined ? (consumed[i] ?? "") : `from:${record.inputFrom}`;
        const key = createHash("sha256").update(`${planned.hash}|${input}`).digest("hex").slice(0, 16);
        expect(path.relative(workspace, dir)).toBe(`segments/${String(i)}/${key}-0`);
        for (const file of ["clip.mp4", "latents.safetensors", "poster.png", "result.json"]) {
          expect(existsSync(path.join(dir, file)), `${dir}/${file}`).toBe(true);
        }
        const latents = path.join(dir, "latents.safetensors");
        expect(sha256Of(latents), `segment ${String(i)} latents`).toBe(outputs[i]);
        const header = safetensorsHeader(latents);
        expect(header.metadata).toMatchObject({
          format: "longvideo.handoff/v1",
          backend: "svi",
          variant,
          protocol,
          segment: String(i),
          plan: planned.hash,
          consumed: record.inputDigest ?? "",
        });
        expect(header.tensors).toEqual(tensors);
        const result = JSON.parse(readFileSync(path.join(dir, "result.json"), "utf8")) as Record<string, unknown>;
        results.push(result);
        expect(result).toMatchObject({
          backend: "svi",
          variant,
          segmentHash: planned.hash,
          attempt: 0,
          latentsDigest: outputs[i],
        });
        expect(videoFacts(path.join(dir, "clip.mp4")).frames, `segment ${String(i)} clip`).toBe(planned.framesKept);
        expect(readFileSync(path.join(dir, "poster.png")).subarray(1, 4).toString()).toBe("PNG");
      }

      // The pods: on the real node, told svi, the model cache mounted read-only, and reporting svi when done.
      const pods = segmentPods(name);
      expect(pods).toHaveLength(plan.totals.segments);
      for (const pod of pods) {
        expect(pod.spec.nodeName).toBe(realNode);
        const container = pod.spec.containers[0];
        const env = Object.fromEntries((container?.env ?? []).map((e) => [e.name, e.value]));
        expect(env).toMatchObject({ LV_BACKEND: "svi", LV_VARIANT: variant });
        const volume = pod.spec.volumes.find((v) => v.persistentVolumeClaim?.claimName === modelsClaim);
        expect(volume?.persistentVolumeClaim?.readOnly).toBe(true);
        expect(container?.volumeMounts?.find((m) => m.name === volume?.name)).toMatchObject({
          mountPath: "/models",
          readOnly: true,
        });
        const terminated = pod.status.containerStatuses?.[0]?.state.terminated;
        expect(terminated?.exitCode).toBe(0);
        expect(JSON.parse(terminated?.message ?? "{}")).toMatchObject({ backend: "svi", variant, ok: true });
        const logs = kubectl("logs", "-n", filmsNamespace, pod.metadata.name);
        expect(logs).toMatch(/"backend": ?"svi"/);
        // The scene's extra LoRA reached the worker and was merged: 2 tiny blocks x 10 modules per expert, on top
        // of the variant's own SVI LoRA(s).
        const segment = Number(env.LV_SEGMENT_INDEX);
        const planned = plan.segments[segment];
        if (chained(variant)) {
          // The keyframed chain reads its keyframe as its reference image, and its start says it starts a chain.
          const image = planned?.keyframe ? keyframe : { configMap: reference };
          expect(JSON.parse(env.LV_REFERENCE_IMAGE ?? "null")).toEqual(image);
          expect(env.LV_CHAIN_START).toBe(segment === 2 ? "true" : undefined);
          expect(JSON.parse(env.LV_LORAS ?? "[]")).toEqual(planned?.loras);
          expect(env.LV_GUIDANCE_SCALE).toBe(String(planned?.guidanceScale));
          expect(env.LV_SEED).toBe(String(planned?.seed));
          const merged = logs
            .split("\n")
            .flatMap((line) => (line.startsWith("{") ? [JSON.parse(line) as Record<string, unknown>] : []))
            .find((line) => line.event === "lora-merged");
          const own = variant === "pro" ? 40 : 20;
          expect(merged?.modules, `segment ${String(segment)}`).toBe(own + (planned?.loras.length ?? 0) * 20);
        }
      }
      if (variant === "film" || variant === "pro") {
        expect(plan.segments.map((s) => [s.loras.length, s.guidanceScale, s.seed])).toEqual([
          [0, plan.render.guidanceScale, 0],
          [1, plan.render.guidanceScale, plan.render.seedMultiplier],
          [0, 1, 5],
        ]);
      }

      // The window of audio (talk) or skeleton frames (dance) each segment consumed, as its result.json records it
      // (the termination message carries only the contract's fields), is the plan's; the film's audio stream (talk's
      // voice, dance's music) starts with the video and lasts as long, within one AAC frame.
      if (variant === "talk" || variant === "dance") {
        const key = variant === "talk" ? "audioWindow" : "poseWindow";
        for (const planned of plan.segments) {
          const window = variant === "talk" ? planned.audioWindow : planned.poseWindow;
          if (!window) throw new Error(`segment ${String(planned.index)} has no ${key} in the plan`);
          const expected = { startFrame: window.startFrame, frames: window.frames };
          expect(results[planned.index]?.[key], `segment ${String(planned.index)} result.json`).toMatchObject(expected);
        }
        const timing = audioTiming(filmFile);
        expect(timing.audio?.codec).toBe("aac");
        expect(timing.audio?.start).toBeCloseTo(timing.video?.start ?? -1, 3);
        expect(Math.abs((timing.audio?.duration ?? 0) - plan.totals.seconds)).toBeLessThanOrEqual(1024 / 48_000 + 1e-3);
      }

      const render =
        status?.startTime && status.completionTime
          ? (Date.parse(status.completionTime) - Date.parse(status.startTime)) / 1000
          : Number.NaN;
      const perSegment = segments.map((s) =>
        s.startTime && s.finishTime ? (Date.parse(s.finishTime) - Date.parse(s.startTime)) / 1000 : Number.NaN,
      );
      timings.push(
        `${name}: ${String(plan.totals.segments)} segments, ${String(plan.totals.frames)} frames at ${String(size)}x${String(size)}; ` +
          `applied to Succeeded ${wall.toFixed(0)}s (status start to completion ${render.toFixed(0)}s; segments ${perSegment.map((s) => s.toFixed(0)).join(", ")}s)`,
      );
    });
  }

  it("fails a film whose model cache is wrong in seconds, naming each file, then resumes once the cache is fixed", async () => {
    // The film variant reads the Wan 2.1 components and the svi-film LoRA: one missing, one not safetensors.
    const missing = "svi/version-1.0/svi-film-opt-10212025.safetensors";
    const corrupt = "Wan2.1-I2V-14B-480P-Diffusers/vae/diffusion_pytorch_model.safetensors";
    rmSync(brokenDir, { recursive: true, force: true });
    cpSync(modelsDir, brokenDir, { recursive: true });
    rmSync(path.join(brokenDir, missing));
    writeFileSync(path.join(brokenDir, corrupt), "these are not the weights you are looking for\n");
    run("kubectl", ["apply", "-f", "-"], modelCacheObjects(brokenDir, brokenVolume, brokenClaim, filmsNamespace));
    const manifest = sviFilm("film");
    manifest.metadata.name = "wrong-models";
    manifest.spec.storage.models.claimName = brokenClaim;
    const applied = Date.now();
    const name = applyFilmObject(filmsNamespace, manifest);

    let film: Film = readFilm(filmsNamespace, name);
    const ready = () => film.status?.conditions?.find((c) => c.type === "Ready");
    while (ready()?.reason !== "ModelCacheIncomplete") {
      if (Date.now() - applied > 90_000) throw new Error(`no ModelCacheIncomplete: ${JSON.stringify(film.status)}`);
      await sleep(500);
      film = readFilm(filmsNamespace, name);
    }
    const reportedAfter = (Date.now() - applied) / 1000;
    say(`kubectl get lv ${name} -o wide:\n${kubectl("get", "longvideo", name, "-n", filmsNamespace, "-o", "wide")}`);
    const message = ready()?.message ?? "";
    expect(message).toMatch(/^spec\.storage\.models\.claimName: /);
    expect(message).toContain(missing);
    expect(message).toContain(corrupt);
    expect(film.status?.phase).toBe("Pending");
    // Nothing but the probe ran: no segment pod was ever created, so no GPU was held for a wrong cache.
    expect(segmentPods(name)).toEqual([]);
    const events = kubectl(
      "get",
      "events",
      "-n",
      filmsNamespace,
      "--field-selector",
      `involvedObject.name=${name},reason=ModelCacheIncomplete`,
      "-o",
      "jsonpath={.items[*].message}",
    );
    expect(events).toContain(missing);

    // Fixed in place (as filling a cache would): the recheck (30 s after the finding) finds it right, and the
    // film is planned and starts rendering.
    cpSync(path.join(modelsDir, missing), path.join(brokenDir, missing));
    cpSync(path.join(modelsDir, corrupt), path.join(brokenDir, corrupt));
    const fixed = Date.now();
    while (!(film.status?.inputs?.modelFiles !== undefined && segmentPods(name).length > 0)) {
      if (Date.now() - fixed > 120_000) throw new Error(`did not resume: ${JSON.stringify(film.status)}`);
      await sleep(1000);
      film = readFilm(filmsNamespace, name);
    }
    const resumedAfter = (Date.now() - fixed) / 1000;
    expect(film.status.inputs.modelChecks).toBe(1);
    expect(film.status.inputs.modelFiles).toBeGreaterThan(10);
    kubectl("delete", "longvideo", name, "-n", filmsNamespace, "--timeout=120s");
    timings.push(
      `${name}: ModelCacheIncomplete ${reportedAfter.toFixed(1)}s after it was applied; ` +
        `rendering again ${resumedAfter.toFixed(1)}s after the cache was fixed`,
    );
  }, 300_000);
});
