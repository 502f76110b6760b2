/**
 * A film's intent: its spec validated by the API's zod schema, planned into segments, and turned into what the
 * reconciler acts on (each segment's contract environment, placement, retries, workspace, concatenation). Pure.
 */
import { createHash } from "node:crypto";
import { fieldErrorLine } from "../api/field-errors.ts";
import { longVideoSpecVerdict } from "../api/long-video.ts";
import { segmentPlan } from "../plan/segment-plan.ts";
import { defaultDeadlineSeconds } from "../api/long-video-spec.ts";
import type { Backend, LongVideoSpec, LoraExpert, MediaSource, ReferenceImage } from "../api/long-video-spec.ts";
import type { ProbedInputsStatus } from "../api/long-video-status.ts";
import { variantProfiles } from "../api/variant-profiles.ts";
import { canonicalJson } from "../plan/canonical-json.ts";
import { mediaSource } from "../plan/segment-plan.ts";
import { filmPolicyViolations, namespaceFilmPolicy } from "../api/film-policy.ts";
import type { OperatorFilmPolicy } from "../api/film-policy.ts";
import type { Toleration } from "../api/pod-scheduling.ts";
import { largerQuantity, smallerQuantity } from "../api/quantity.ts";
import { audioWindowText, mountPaths, poseWindowText } from "../api/runtime-contract.ts";
import { defaultSegmentResources } from "../api/segment-resources.ts";
import type { RequestAndLimit, SegmentResources } from "../api/segment-resources.ts";
import type { SegmentPlan, SegmentSpec } from "../plan/segment-plan.ts";
import type {
  FilmIntent,
  GpuPlacement,
  InputVolumes,
  IntentResult,
  PlannedSegment,
  ProbeIntent,
  ReferenceVolume,
  RuntimeEnv,
  WarmStart,
  WorkspaceIntent,
} from "./film-snapshot.ts";
import { workspaceClaimName } from "./object-names.ts";

/** Operator-wide defaults a film may leave unset (from the Helm chart's values), and its film policy. */
export interface IntentDefaults {
  readonly nodeSelector: Readonly<Record<string, string>>;
  readonly tolerations: readonly Toleration[];
  readonly modelCacheClaim: string;
  /**
   * Whether an svi film's model cache is checked by the probe before the film is planned: the operator does, so
   * that a wrong cache fails the film in seconds instead of minutes into a GPU pod; `longvideo render` does not (its
   * worker reads the local files as it loads them).
   */
  readonly checkModelCache: boolean;
  /** The backend of films that name none. */
  readonly backend: Backend;
  /** Warm start's limits (docs/adr/0026); absent: every hand-off is serial. */
  readonly warmStart?: WarmStart;
  /** What films may ask for, by namespace. */
  readonly policy: OperatorFilmPolicy;
}

/** A film as the intent reads it: its spec, and what the probe recorded about its inputs (`status.inputs`). */
export interface IntentFilm {
  readonly name: string;
  readonly namespace: string;
  readonly spec: unknown;
  readonly inputs?: ProbedInputsStatus;
}

export function filmIntent(film: IntentFilm, defaults: IntentDefaults): IntentResult {
  const usable = usableSpec(film, defaults);
  if (!usable.ok) return usable;
  const { spec, plan, modelsClaim } = usable;
  const shared = sharedEnv(spec, plan);
  const inputVolumes = segmentInputVolumes(spec);
  const intent: FilmIntent = {
    segments: plan.segments.map((segment) => plannedSegment(segment, shared, spec)),
    chains: plan.chains.map((chain) => ({ first: chain.firstSegment, last: chain.lastSegment })),
    parallelism: spec.render.parallelism,
    ...(defaults.warmStart && spec.render.warmStart ? { warm: defaults.warmStart } : {}),
    suspend: spec.suspend,
    retry: {
      limit: spec.retry.limit,
      baseDelayMs: spec.retry.backoff.initialSeconds * 1000,
      maxDelayMs: spec.retry.backoff.maxSeconds * 1000,
    },
    placement: gpuPlacement(spec.gpu, defaults),
    podLabels: spec.podMetadata?.labels ?? {},
    podAnnotations: spec.podMetadata?.annotations ?? {},
    workspace: workspaceIntent(film.name, spec.storage.workspace),
    ...(modelsClaim && plan.render.backend === "svi" ? { modelsClaim } : {}),
    ...(inputVolumes.audio || inputVolumes.pose ? { inputVolumes } : {}),
    backend: plan.render.backend,
    deadlineSeconds: spec.render.deadlineSeconds ?? defaultDeadlineSeconds[plan.render.backend],
    segmentResources: segmentResources(spec, plan.render.backend),
    concat: concatIntent(spec, plan),
  };
  return { ok: true, intent };
}

/** The spec validated, allowed by its policy and planned, with its model claim; or why it cannot be used. */
function usableSpec(
  film: IntentFilm,
  defaults: IntentDefaults,
):
  | { readonly ok: true; readonly spec: LongVideoSpec; readonly plan: SegmentPlan; readonly modelsClaim?: string }
  | Extract<IntentResult, { ok: false }> {
  const verdict = longVideoSpecVerdict(film.spec);
  if (!verdict.ok) {
    return {
      ok: false,
      reason: "InvalidSpec",
      errors: verdict.errors.map((e) => ({ path: e.field, message: fieldErrorLine(e).slice(e.field.length + 2) })),
    };
  }
  const spec = verdict.value;
  // Before anything is planned or created: a film asking for more than it may gets no pod at all.
  const violations = filmPolicyViolations(spec, namespaceFilmPolicy(defaults.policy, film.namespace, defaults));
  if (violations.length > 0) return { ok: false, reason: "PolicyRefused", errors: violations };
  const modelsClaim = spec.storage.models?.claimName ?? (defaults.modelCacheClaim || undefined);
  // Known only here, with the operator's defaults: the API server cannot see the chart's model cache claim.
  const svi = (spec.render.backend ?? defaults.backend) === "svi";
  if (svi && !modelsClaim) return { ok: false, reason: "InvalidSpec", errors: [missingModelCache] };
  const read = probedInputs(spec, film, defaults, svi && defaults.checkModelCache ? modelsClaim : undefined);
  if (!read.ok) return read;
  const planned = segmentPlan(spec, {
    defaultBackend: defaults.backend,
    ...(read.audioSeconds === undefined ? {} : { inputs: { audioSeconds: read.audioSeconds } }),
  });
  if (!planned.ok) {
    return {
      ok: false,
      reason: "InvalidSpec",
      errors: [{ path: planned.error.field, message: planned.error.message }],
    };
  }
  return { ok: true, spec, plan: planned.plan, ...(modelsClaim ? { modelsClaim } : {}) };
}

const missingModelCache = {
  path: "spec.storage.models.claimName",
  message:
    "Required value: the svi backend reads the model weights from a claim: set spec.storage.models.claimName, " +
    "or give the operator a model cache (Helm value modelCache.claimName)",
};

/** The contract's variables every segment pod of the film gets. */
function sharedEnv(spec: LongVideoSpec, plan: SegmentPlan): RuntimeEnv {
  const { render } = plan;
  return {
    LV_VARIANT: render.variant,
    LV_BACKEND: render.backend,
    LV_WIDTH: String(render.width),
    LV_HEIGHT: String(render.height),
    LV_FPS: String(render.fps),
    LV_AUDIO_GUIDANCE_SCALE: String(render.audioGuidanceScale),
    LV_MOTION_FRAMES: String(render.motionFrames),
    LV_PADDING: render.padding,
    LV_SEGMENT_COUNT: String(plan.segments.length),
    // The worker starts one rank per GPU the pod is given (sequence parallelism, ADR 0023).
    LV_GPU_COUNT: String(spec.gpu.count),
    LV_WORKSPACE: mountPaths.workspace,
    LV_MODELS_DIR: mountPaths.models,
    LV_REFERENCE_DIR: mountPaths.reference,
  };
}

function plannedSegment(segment: SegmentSpec, shared: RuntimeEnv, spec: LongVideoSpec): PlannedSegment {
  // A keyframed chain's segments take its keyframe as their reference image, volume and all (docs/adr/0025).
  const image = segment.keyframe ?? spec.referenceImage;
  return {
    index: segment.index,
    hash: segment.hash,
    chain: segment.chain,
    chainStart: segment.chainStart,
    keptFrames: segment.framesKept,
    ...referenceVolume(image),
    env: {
      ...shared,
      LV_REFERENCE_IMAGE: JSON.stringify(image),
      ...(segment.chainStart && segment.index > 0 ? { LV_CHAIN_START: "true" } : {}),
      ...(segment.audioWindow && spec.audio
        ? {
            LV_AUDIO: JSON.stringify(mediaSource(spec.audio)),
            LV_AUDIO_DIR: mountPaths.audio,
            LV_AUDIO_WINDOW: audioWindowText(segment.audioWindow),
          }
        : {}),
      ...(segment.poseWindow && spec.pose
        ? {
            LV_POSE: JSON.stringify(mediaSource(spec.pose)),
            LV_POSE_DIR: mountPaths.pose,
            LV_POSE_WINDOW: poseWindowText(segment.poseWindow),
          }
        : {}),
      LV_SEGMENT_INDEX: String(segment.index),
      LV_SEGMENT_HASH: segment.hash,
      LV_SCENE_INDEX: String(segment.scene),
      LV_PROMPT: segment.prompt,
      LV_SEED: String(segment.seed),
      LV_STEPS: String(segment.steps),
      LV_GUIDANCE_SCALE: String(segment.guidanceScale),
      ...(segment.negativePrompt === "" ? {} : { LV_NEGATIVE_PROMPT: segment.negativePrompt }),
      ...(segment.loras.length === 0 ? {} : { LV_LORAS: JSON.stringify(segment.loras) }),
      LV_FRAMES: String(segment.framesGenerated),
      LV_TRIM_HEAD: String(segment.trimHead),
      LV_TRIM_TAIL: String(segment.trimTail),
      LV_KEPT_FRAMES: String(segment.framesKept),
    },
  };
}

function gpuPlacement(gpu: LongVideoSpec["gpu"], defaults: IntentDefaults): GpuPlacement {
  return {
    resourceName: gpu.resourceName,
    count: gpu.count,
    nodeSelector: gpu.nodeSelector ?? defaults.nodeSelector,
    tolerations: gpu.tolerations ?? defaults.tolerations,
    ...(gpu.affinity ? { affinity: gpu.affinity } : {}),
    ...(gpu.priorityClassName ? { priorityClassName: gpu.priorityClassName } : {}),
    ...(gpu.queueName ? { queueName: gpu.queueName } : {}),
  };
}

/**
 * The spec's resources field by field over the variant's and backend's defaults. A request or limit left unset
 * never contradicts one that is set: an unset request is lowered to a smaller limit, an unset limit raised to a
 * larger request (and the memory limit to the /dev/shm size), so the pair Kubernetes receives is always valid.
 */
function segmentResources(spec: LongVideoSpec, backend: Backend): SegmentResources {
  const defaults = defaultSegmentResources(spec.variant, backend, spec.gpu.count);
  const { requests, limits, sharedMemory } = spec.resources ?? {};
  const memory = requestAndLimit(defaults.memory, requests?.memory, limits?.memory, sharedMemory);
  return {
    cpu: requestAndLimit(defaults.cpu, requests?.cpu, limits?.cpu),
    memory,
    sharedMemory: sharedMemory ?? smallerQuantity(defaults.sharedMemory, memory.limit),
  };
}

function requestAndLimit(
  defaults: RequestAndLimit,
  request: string | undefined,
  limit: string | undefined,
  limitFloor?: string,
): RequestAndLimit {
  const resolvedRequest =
    request ?? (limit === undefined ? defaults.request : smallerQuantity(defaults.request, limit));
  const floor = limitFloor === undefined ? resolvedRequest : largerQuantity(resolvedRequest, limitFloor);
  return { request: resolvedRequest, limit: limit ?? largerQuantity(defaults.limit, floor) };
}

function workspaceIntent(film: string, workspace: LongVideoSpec["storage"]["workspace"]): WorkspaceIntent {
  return {
    claimName: workspaceClaimName(film),
    size: workspace.size,
    accessMode: workspace.accessMode,
    retainOnDelete: workspace.whenDeleted === "Retain",
    ...(workspace.storageClassName ? { storageClassName: workspace.storageClassName } : {}),
  };
}

function concatIntent(spec: LongVideoSpec, plan: SegmentPlan): FilmIntent["concat"] {
  const path = `${mountPaths.workspace}/${spec.output.path}`;
  // The film depends on every segment (each chain's last hash chains the whole chain) and on how it is written.
  // One chain's hash is its last hash alone, as it was before chains, so such films keep their concat hash.
  const lastHashes = plan.chains.map((chain) => plan.segments[chain.lastSegment]?.hash ?? "");
  const chained = lastHashes.length === 1 ? (lastHashes[0] ?? "") : lastHashes.join(",");
  const track =
    plan.audioTrack && spec.audio ? { source: mediaSource(spec.audio), window: plan.audioTrack } : undefined;
  // A film without audio hashes what it always did; one with audio adds the track it muxes.
  const hashed = [chained, spec.output.path, plan.render.fps, ...(track ? [canonicalJson(track)] : [])];
  const hash = createHash("sha256").update(JSON.stringify(hashed)).digest("hex");
  const audioVolume = spec.audio ? inputVolume(spec.audio) : undefined;
  return {
    hash,
    env: {
      LV_WORKSPACE: mountPaths.workspace,
      LV_FPS: String(plan.render.fps),
      LV_SEGMENT_COUNT: String(plan.segments.length),
      LV_OUTPUT_PATH: path,
      LV_EXPECTED_FRAMES: String(plan.totals.frames),
      ...(track
        ? {
            LV_AUDIO: JSON.stringify(track.source),
            LV_AUDIO_DIR: mountPaths.audio,
            LV_AUDIO_WINDOW: audioWindowText(track.window),
          }
        : {}),
    },
    ...(audioVolume ? { audioVolume } : {}),
    frames: plan.totals.frames,
    seconds: plan.totals.seconds,
    path,
  };
}

/** The volume render pods mount for the reference image; a url is fetched by the runtime into the workspace. */
function referenceVolume(source: ReferenceImage): { reference?: ReferenceVolume } {
  const volume = inputVolume(source);
  return volume ? { reference: volume } : {};
}

/** The volume an input comes from: a config map or a claim; none for a url (fetched by the runtime). */
function inputVolume(source: MediaSource): ReferenceVolume | undefined {
  if (source.configMap) return { kind: "configMap", name: source.configMap.name };
  if (source.pvc) return { kind: "pvc", claimName: source.pvc.claimName };
  return undefined;
}

/** What a segment pod mounts besides the reference image: the audio for talk, the skeleton video for dance. */
function segmentInputVolumes(spec: LongVideoSpec): InputVolumes {
  const conditioning = variantProfiles[spec.variant].conditioning;
  const audio = conditioning === "audio" && spec.audio ? inputVolume(spec.audio) : undefined;
  const pose = conditioning === "pose" && spec.pose ? inputVolume(spec.pose) : undefined;
  return { ...(audio ? { audio } : {}), ...(pose ? { pose } : {}) };
}

/** The spec field a model cache problem is blamed on: the claim the film names, or would name to override the default. */
export const modelCacheField = "spec.storage.models.claimName";

/**
 * The model cache an svi film's probe checks: the claim, the variant whose files it must hold, and the extra LoRAs
 * its film and scenes name (each path and expert once; strengths do not change whether a file fits).
 */
export interface CheckedModels {
  readonly claimName: string;
  readonly variant: LongVideoSpec["variant"];
  readonly loras?: readonly CheckedLora[];
}

/** An extra LoRA as the probe checks it: does the file exist, and does every key fit the expert it goes into. */
export interface CheckedLora {
  readonly path: string;
  readonly expert?: LoraExpert;
}

/** Every extra LoRA of the film and its scenes, each path and expert once, in the order they first appear. */
function checkedLoras(spec: LongVideoSpec): CheckedLora[] {
  const all = [...(spec.render.loras ?? []), ...spec.storyline.flatMap((scene) => scene.loras ?? [])];
  const seen = new Map<string, CheckedLora>();
  for (const { path, expert } of all) {
    const lora = expert === undefined ? { path } : { path, expert };
    seen.set(canonicalJson(lora), lora);
  }
  return [...seen.values()];
}

/**
 * The digest of what a film's probe reads: its audio and skeleton video sources (the offset left out: it moves
 * windows, not what is read) and, for an svi film, its model cache claim and variant. A probe result recorded
 * under another key is for other inputs, and they are read again.
 */
export function inputsKey(spec: Pick<LongVideoSpec, "audio" | "pose">, models?: CheckedModels): string {
  const sources = {
    audio: spec.audio ? mediaSource(spec.audio) : undefined,
    pose: spec.pose ? mediaSource(spec.pose) : undefined,
    // Absent for a film without a model check, so such films keep the key they were probed under.
    ...(models ? { models } : {}),
  };
  return createHash("sha256").update(canonicalJson(sources)).digest("hex");
}

/**
 * When a model cache found incomplete is checked again: 30 s after the check, doubling with each one up to 10
 * minutes, so that a cache being filled resumes the film soon, and one left wrong costs a short pod a few times an
 * hour. Milliseconds since the epoch.
 */
export function modelRecheckAt(inputs: Pick<ProbedInputsStatus, "checkedAt" | "modelChecks">): number {
  const checks = Math.max(1, inputs.modelChecks ?? 1);
  const delayMs = Math.min(modelRecheck.maxMs, modelRecheck.firstMs * 2 ** Math.min(checks - 1, 16));
  return (inputs.checkedAt === undefined ? 0 : Date.parse(inputs.checkedAt)) + delayMs;
}

const modelRecheck = { firstMs: 30_000, maxMs: 600_000 } as const;

/**
 * The probe's verdict on a film's inputs: nothing to read, what was read, the input that cannot be read, or the
 * probe still to run (the film is planned only after it).
 */
function probedInputs(
  spec: LongVideoSpec,
  film: IntentFilm,
  defaults: IntentDefaults,
  modelsClaim: string | undefined,
): { readonly ok: true; readonly audioSeconds?: number } | Extract<IntentResult, { ok: false }> {
  const loras = checkedLoras(spec);
  const models =
    modelsClaim === undefined
      ? undefined
      : { claimName: modelsClaim, variant: spec.variant, ...(loras.length > 0 ? { loras } : {}) };
  if (!spec.audio && !spec.pose && !models) return { ok: true };
  const key = inputsKey(spec, models);
  const recorded = film.inputs?.key === key ? film.inputs : undefined;
  const probe = probeIntent(spec, key, defaults, models);
  if (recorded?.unreadable) {
    const errors = [{ path: recorded.unreadable.field, message: recorded.unreadable.message }];
    if (recorded.unreadable.field === modelCacheField) {
      return { ok: false, reason: "ModelCacheIncomplete", errors, probe, recheckAt: modelRecheckAt(recorded) };
    }
    return { ok: false, reason: "InputUnreadable", errors };
  }
  if (recorded !== undefined && readEverything(recorded, spec, models))
    return { ok: true, ...(recorded.audioSeconds === undefined ? {} : { audioSeconds: recorded.audioSeconds }) };
  return { ok: false, reason: "Probing", probe };
}

/** Whether the probe recorded every measure the film needs: each input's length, the model cache checked. */
function readEverything(recorded: ProbedInputsStatus, spec: LongVideoSpec, models: CheckedModels | undefined): boolean {
  return (
    (!spec.audio || recorded.audioSeconds !== undefined) &&
    (!spec.pose || recorded.poseFrames !== undefined) &&
    (!models || recorded.modelFiles !== undefined)
  );
}

function probeIntent(
  spec: LongVideoSpec,
  key: string,
  defaults: IntentDefaults,
  models: CheckedModels | undefined,
): ProbeIntent {
  const audio = spec.audio ? inputVolume(spec.audio) : undefined;
  const pose = spec.pose ? inputVolume(spec.pose) : undefined;
  return {
    key,
    env: probeEnv(spec, models),
    inputVolumes: { ...(audio ? { audio } : {}), ...(pose ? { pose } : {}) },
    ...(models ? { modelsClaim: models.claimName } : {}),
    fields: [
      ...(spec.audio ? ["spec.audio"] : []),
      ...(spec.pose ? ["spec.pose"] : []),
      ...(models ? [modelCacheField] : []),
    ],
    // It needs no GPU, but it runs where the film's pods may run.
    placement: { ...gpuPlacement(spec.gpu, defaults), count: 0 },
    podLabels: spec.podMetadata?.labels ?? {},
    podAnnotations: spec.podMetadata?.annotations ?? {},
    retryLimit: spec.retry.limit,
    deadlineSeconds: probeDeadlineSeconds,
  };
}

function probeEnv(spec: LongVideoSpec, models: CheckedModels | undefined): RuntimeEnv {
  return {
    // The probe keeps nothing: a url is fetched into its scratch directory and dropped with the pod.
    LV_WORKSPACE: mountPaths.scratch,
    ...(spec.audio ? { LV_AUDIO: JSON.stringify(mediaSource(spec.audio)), LV_AUDIO_DIR: mountPaths.audio } : {}),
    ...(spec.pose ? { LV_POSE: JSON.stringify(mediaSource(spec.pose)), LV_POSE_DIR: mountPaths.pose } : {}),
    ...(models ? { LV_CHECK_MODELS: models.variant, LV_MODELS_DIR: mountPaths.models } : {}),
    ...(models?.loras ? { LV_LORAS: JSON.stringify(models.loras) } : {}),
  };
}

/**
 * A probe fetches at most a url (bounded by the fetch policy's own deadline), runs ffprobe and reads safetensors
 * headers: minutes at most.
 */
const probeDeadlineSeconds = 600;
