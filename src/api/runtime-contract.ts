/**
 * The operator <-> runtime contract: everything the operator and the Python worker in `runtime-image/` must agree
 * on, written once. `npm run generate` writes it as `runtime-image/src/longvideo_runtime/contract.json`, which the
 * worker loads at start and its tests check their own reading against; a check fails when that file is stale.
 * Changing a name here is changing the API between two images that may be upgraded separately: extend, do not
 * rename.
 */
import { createHash } from "node:crypto";
import { backends } from "./long-video-spec.ts";
import { clipFrames, defaultSeedMultiplier, framesPerLatent, variantProfiles, variants } from "./variant-profiles.ts";

/**
 * A conditioning window as LV_AUDIO_WINDOW / LV_POSE_WINDOW spell it: `start:frames` and, for a pose window,
 * `:loop` (`true`/`false`). Frames are counted on the input's own timeline at the film's fps.
 */
export interface ConditioningWindow {
  readonly startFrame: number;
  readonly frames: number;
  readonly loop: boolean;
}

/** LV_AUDIO_WINDOW's text: `start:frames`. */
export function audioWindowText(window: ConditioningWindow): string {
  return `${String(window.startFrame)}:${String(window.frames)}`;
}

/** LV_POSE_WINDOW's text: `start:frames:loop`. */
export function poseWindowText(window: ConditioningWindow): string {
  return `${String(window.startFrame)}:${String(window.frames)}:${String(window.loop)}`;
}

/** Identifies this shape of the contract; the worker refuses a contract file of another version. */
export const runtimeContractVersion = "longvideo.dev/runtime-contract/v1";

/** Where every render pod finds its volumes. */
export const mountPaths = {
  /** The film's workspace claim (read-write): segments, hand-offs and the film. */
  workspace: "/workspace",
  /** The shared model cache claim (read-only). */
  models: "/models",
  /** A configMap or pvc reference image source (read-only). */
  reference: "/reference",
  /** A configMap or pvc audio source (`spec.audio`, read-only). */
  audio: "/inputs/audio",
  /** A configMap or pvc skeleton video source (`spec.pose`, read-only). */
  pose: "/inputs/pose",
  /** Scratch space: the root filesystem is read-only, and PyTorch, ffmpeg and Python want a writable /tmp. */
  scratch: "/tmp",
} as const;

/**
 * The worker's commands: the container's first argument. `probe` reads a film's audio and pose inputs before
 * planning and reports their durations (termination message fields `terminationMessage.probe`).
 */
export const runtimeCommands = ["segment", "concat", "probe"] as const;
export type RuntimeCommand = (typeof runtimeCommands)[number];

/**
 * Who sets a variable: the operator on every pod of that command; the operator on the pods of that command of films
 * that have the input the variable describes (`input`: spec.audio, spec.pose); the operator on the segment pods whose
 * spec sets what the variable describes (`option`: a negative prompt, extra LoRAs); or a person tuning or debugging a
 * pod.
 */
type Setter = "operator" | "input" | "option" | "tuning";

interface EnvFact {
  readonly commands: readonly RuntimeCommand[];
  readonly setBy: Setter;
  readonly description: string;
}

const both = ["segment", "concat"] as const;
const segment = ["segment"] as const;
const concat = ["concat"] as const;
const segmentConcatProbe = ["segment", "concat", "probe"] as const;
const segmentProbe = ["segment", "probe"] as const;
const probe = ["probe"] as const;

/** Every `LV_*` variable the worker reads, keyed by its name. */
export const runtimeEnv = {
  LV_VARIANT: { commands: segment, setBy: "operator", description: "SVI variant: one of the contract's variants." },
  LV_BACKEND: { commands: segment, setBy: "operator", description: "Render backend: one of the contract's backends." },
  LV_WIDTH: { commands: segment, setBy: "operator", description: "Frame width in pixels (multiple of 16)." },
  LV_HEIGHT: { commands: segment, setBy: "operator", description: "Frame height in pixels (multiple of 16)." },
  LV_FPS: { commands: both, setBy: "operator", description: "Frames per second of every clip and the film." },
  LV_STEPS: { commands: segment, setBy: "operator", description: "Denoising steps." },
  LV_GUIDANCE_SCALE: { commands: segment, setBy: "operator", description: "Text classifier-free guidance." },
  LV_MOTION_FRAMES: { commands: segment, setBy: "operator", description: "Motion frames handed from clip to clip." },
  LV_PADDING: { commands: segment, setBy: "operator", description: "What fills the conditioning after the motion." },
  LV_SEGMENT_COUNT: { commands: both, setBy: "operator", description: "Segments in the film." },
  LV_WORKSPACE: { commands: segmentConcatProbe, setBy: "operator", description: "The workspace mount." },
  LV_MODELS_DIR: {
    commands: segmentProbe,
    setBy: "operator",
    description: "The model cache mount (on a probe, only with LV_CHECK_MODELS).",
  },
  LV_CHECK_MODELS: {
    commands: probe,
    setBy: "input",
    description:
      "On the probe of an svi film: the variant whose model files the cache at LV_MODELS_DIR must hold. The probe " +
      "checks each file the variant's code reads (present, a readable safetensors header, the tensors the code " +
      "uses with the shapes their config implies) and fails as bad input naming spec.storage.models.claimName " +
      "and every problem (termination message `modelProblems`), before any GPU pod starts.",
  },
  LV_REFERENCE_IMAGE: {
    commands: segment,
    setBy: "operator",
    description: "The segment's chain's image source, JSON: the film's referenceImage, or its scene chain's keyframe.",
  },
  LV_REFERENCE_DIR: { commands: segment, setBy: "operator", description: "Where a volume reference image is mounted." },
  LV_FETCH_POLICY: {
    commands: segmentConcatProbe,
    setBy: "operator",
    description:
      "How a url reference image, audio or pose video may be fetched, JSON: allowCidrs (ranges opened despite the refused ones), " +
      "refuseCidrs (the cluster's pod and service ranges, refused besides the built-in ones), maxBytes, " +
      "timeoutSeconds (for the whole fetch, redirects included); a field left out takes referenceFetch's default.",
  },
  LV_GPU_COUNT: {
    commands: segment,
    setBy: "operator",
    description:
      "spec.gpu.count: the ranks the worker launches for one segment, one per GPU (Ulysses sequence parallelism, " +
      "CFG parallelism when even and guided); on CPU (LV_DEVICE=cpu) the same number of gloo processes. 1: one process.",
  },
  LV_AUDIO_GUIDANCE_SCALE: {
    commands: segment,
    setBy: "operator",
    description: "Audio classifier-free guidance (talk's audio pass); 1 means no audio pass.",
  },
  LV_AUDIO: {
    commands: segmentConcatProbe,
    setBy: "input",
    description:
      "The film's spec.audio source, JSON of the same shape as LV_REFERENCE_IMAGE (without offsetSeconds): on " +
      "talk segments (the voice), and on the probe and concat of every film with audio (dance: its music track).",
  },
  LV_AUDIO_DIR: {
    commands: segmentConcatProbe,
    setBy: "input",
    description: "Where a configMap or pvc audio source is mounted.",
  },
  LV_AUDIO_WINDOW: {
    commands: both,
    setBy: "input",
    description:
      "start:frames, frames of the audio at LV_FPS: a talk segment's window (SVI's i*frames - motionFrames, plus " +
      "the offset), or for concat the film's whole track (the offset, and the film's frames). Past the audio's end " +
      "is silence.",
  },
  LV_POSE: {
    commands: segmentProbe,
    setBy: "input",
    description: "The film's spec.pose source (a skeleton video), JSON of the same shape as LV_REFERENCE_IMAGE.",
  },
  LV_POSE_DIR: { commands: segmentProbe, setBy: "input", description: "Where a configMap or pvc pose is mounted." },
  LV_POSE_WINDOW: {
    commands: segment,
    setBy: "input",
    description:
      "start:frames:loop, the skeleton video's frames the segment follows (frame start+j drives the clip's frame " +
      "j); loop is true when indices wrap around the video's length.",
  },
  LV_ATTEMPT: { commands: segment, setBy: "operator", description: "The operator's attempt number, from 0." },
  LV_SEGMENT_INDEX: { commands: segment, setBy: "operator", description: "Position of the segment, from 0." },
  LV_SEGMENT_HASH: {
    commands: segment,
    setBy: "operator",
    description:
      "The segment's plan hash: with LV_INPUT_DIGEST and LV_ATTEMPT it names the directory this attempt writes.",
  },
  LV_SCENE_INDEX: { commands: segment, setBy: "operator", description: "The storyline scene the segment renders." },
  LV_PROMPT: { commands: segment, setBy: "operator", description: "The scene's prompt." },
  LV_SEED: { commands: segment, setBy: "operator", description: "Noise seed of the segment." },
  LV_FRAMES: { commands: segment, setBy: "operator", description: "Frames generated (4n+1), before trimming." },
  LV_TRIM_HEAD: { commands: segment, setBy: "operator", description: "Frames dropped from the clip's start." },
  LV_TRIM_TAIL: { commands: segment, setBy: "operator", description: "Frames dropped from the clip's end." },
  LV_KEPT_FRAMES: { commands: segment, setBy: "operator", description: "Frames kept: a cross-check of the trims." },
  LV_INPUT_DIGEST: {
    commands: segment,
    setBy: "operator",
    description:
      "Digest of the predecessor's hand-off the segment must consume; empty for segment 0 and a chain's start.",
  },
  LV_FINAL_DIGEST: {
    commands: concat,
    setBy: "operator",
    description:
      "Where the chains of hand-offs are walked back from: the last segment's recorded latents digest (one chain), " +
      "or for a film of several chains (keyframed scenes) a comma-separated list of `lastIndex:digest`, one per " +
      "chain in storyline order, each chain's last segment and its recorded digest. Chain k runs from the segment " +
      "after chain k-1's last to its own last; the last entry's index is LV_SEGMENT_COUNT - 1.",
  },
  LV_INPUT_FROM: {
    commands: segment,
    setBy: "option",
    description:
      "Warm start (docs/adr/0026): the predecessor attempt's directory, relative to LV_WORKSPACE " +
      "(segments/<i-1>/<key>-<attempt>), set instead of LV_INPUT_DIGEST (then empty) on a segment started while its " +
      "predecessor still renders. The worker loads its models first, then polls that directory for the committed " +
      "hand-off (workspaceLayout.handoffCommit) every 50 ms, verifies the latents' digest, and consumes them; it " +
      "reports the digest it consumed as inputDigest. Its own attempt directory is keyed by `from:<LV_INPUT_FROM>` " +
      "instead of an input digest.",
  },
  LV_WAIT_SECONDS: {
    commands: segment,
    setBy: "option",
    description:
      "With LV_INPUT_FROM: how long the worker waits for the predecessor's committed hand-off once its models are " +
      "loaded, before it exits with exitCodes.waited. Unset: 3600.",
  },
  LV_CHAIN_START: {
    commands: segment,
    setBy: "option",
    description:
      "true on the first segment of a chain after the first (a keyframed scene's first clip): it starts from " +
      "LV_REFERENCE_IMAGE (the scene's keyframe) as segment 0 does, with an empty LV_INPUT_DIGEST, although its " +
      "index is above 0. Unset means false.",
  },
  LV_OUTPUT_PATH: { commands: concat, setBy: "operator", description: "Where the film is written (.mp4)." },
  LV_EXPECTED_FRAMES: { commands: concat, setBy: "operator", description: "Frames the plan says the film has." },
  LV_AUDIO_PATH: { commands: concat, setBy: "tuning", description: "An audio track muxed into the film." },
  LV_REFERENCE_IMAGE_PATH: { commands: segment, setBy: "tuning", description: "A reference image file to use." },
  LV_MODEL: { commands: segment, setBy: "tuning", description: "Base model directory, under the model cache." },
  LV_LORA: { commands: segment, setBy: "tuning", description: "SVI LoRA file (high-noise expert for Pro)." },
  LV_LORA_2: { commands: segment, setBy: "tuning", description: "Pro's low-noise expert LoRA file." },
  LV_LORA_SCALE: { commands: segment, setBy: "tuning", description: "Scale of the merged LoRA." },
  LV_DEVICE: { commands: segment, setBy: "tuning", description: "Torch device, or auto." },
  LV_DTYPE: { commands: segment, setBy: "tuning", description: "auto, bfloat16, float16 or float32." },
  LV_OFFLOAD_ENCODERS: { commands: segment, setBy: "tuning", description: "Offload text/image encoders: auto." },
  LV_VAE_TILING: { commands: segment, setBy: "tuning", description: "Tiled VAE decode: true, false or auto." },
  LV_SHIFT: { commands: segment, setBy: "tuning", description: "Flow-matching scheduler shift." },
  LV_BOUNDARY_RATIO: { commands: segment, setBy: "tuning", description: "Wan 2.2 expert switch, in (0, 1)." },
  LV_NEGATIVE_PROMPT: {
    commands: segment,
    setBy: "option",
    description: "Negative prompt for guidance: the scene's negativePrompt, else spec.render's; unset means none.",
  },
  LV_LORAS: {
    commands: segmentProbe,
    setBy: "option",
    description:
      "Extra LoRAs merged after the variant's, JSON: a list of {path, strength, expert?}, path under LV_MODELS_DIR, " +
      "expert highNoise (transformer) or lowNoise (transformer_2) of a two-expert model, absent for every expert. " +
      "Every key of each file must map to a module of the model it is merged into. Unset means none. On a probe " +
      "with LV_CHECK_MODELS: every LoRA of the film and its scenes (strength left out), checked with the cache.",
  },
  LV_LOG_LEVEL: { commands: segmentConcatProbe, setBy: "tuning", description: "Worker log level." },
  LV_TERMINATION_LOG: {
    commands: segmentConcatProbe,
    setBy: "tuning",
    description: "Where the result message is written.",
  },
  LV_DEBUG_STALL_AT: { commands: segment, setBy: "tuning", description: "Fault injection: park at a stage." },
} as const satisfies Record<`LV_${string}`, EnvFact>;
export type RuntimeEnvName = keyof typeof runtimeEnv;

/**
 * The variables the operator sets on every pod of a command: exactly these, no others (each is read), besides the
 * `input` ones of films that have that input ({@link inputEnvNames}).
 */
export function operatorEnvNames(command: RuntimeCommand): RuntimeEnvName[] {
  return envNamesSetBy("operator", command);
}

/** The variables the operator sets on segment pods whose spec sets them (a negative prompt, extra LoRAs). */
export function optionEnvNames(command: RuntimeCommand): RuntimeEnvName[] {
  return envNamesSetBy("option", command);
}

/** The variables the operator sets on a command's pods of films that have an audio or pose input. */
export function inputEnvNames(command: RuntimeCommand): RuntimeEnvName[] {
  return envNamesSetBy("input", command);
}

function envNamesSetBy(setBy: Setter, command: RuntimeCommand): RuntimeEnvName[] {
  return (Object.keys(runtimeEnv) as RuntimeEnvName[]).filter((name) => {
    const fact: EnvFact = runtimeEnv[name];
    return fact.setBy === setBy && fact.commands.includes(command);
  });
}

/** The worker's exit codes: what kind of failure ended it, which the Job's pod failure policy acts on. */
export const exitCodes = {
  ok: 0,
  internal: 1,
  /** The spec, the reference image or the model configuration is wrong: retrying cannot help. */
  badInput: 2,
  /**
   * Data the worker needs from an earlier segment is missing, unreadable or not the one the spec names: a
   * segment's input hand-off, or (for concat) a clip or link of the chain. The operator re-renders from the first
   * segment whose data is gone (the termination message's `missingSegment`), without counting a failure.
   */
  handoff: 3,
  outOfMemory: 4,
  /** The workspace cannot be written (read-only, permissions, full). */
  workspace: 5,
  /**
   * A warm segment (LV_INPUT_FROM) waited LV_WAIT_SECONDS for its predecessor's hand-off, which never came: not its
   * fault, and not counted as a failure; the operator starts it again from the hand-off it records.
   */
  waited: 6,
  /** Stopped by SIGTERM (node drain, preemption) before finishing. */
  terminated: 143,
} as const;

/** The `reason` a failed worker reports beside its exit code. */
export const failureReasons = {
  internal: "internal",
  badInput: "bad-input",
  handoff: "handoff",
  outOfMemory: "out-of-memory",
  workspace: "workspace",
  waited: "handoff-wait",
  terminated: "terminated",
} as const satisfies Record<Exclude<keyof typeof exitCodes, "ok">, string>;

/**
 * Fetching a `url` reference image: the limits a segment pod's LV_FETCH_POLICY leaves out, and how many redirects
 * are followed (each is checked as the first request is).
 */
export const referenceFetch = {
  maxBytes: 64 * 1024 * 1024,
  timeoutSeconds: 30,
  maxRedirects: 5,
} as const;

/** Files in the workspace, relative to its mount. */
export const workspaceLayout = {
  /**
   * Each attempt at segment i writes its own directory, `segments/<i>/<key>-<attempt>/` (`attemptDir()`), so no
   * two pods ever write the same files: not two attempts (one on a lost node may still run), not the old and new
   * plan of an edited storyline, not two renders of one plan from different inputs. Readers find a hand-off by its
   * digest, never by a fixed path.
   */
  segmentsDir: "segments",
  /**
   * Hex characters of the attempt key in an attempt directory's name: the key is the first `attemptKeyChars`
   * characters of the sha256 (hex) of the UTF-8 text `<LV_SEGMENT_HASH>|<LV_INPUT_DIGEST>` (the input digest is
   * empty for segment 0), so it names the plan hash and the input digest together (`attemptKey()`). A warm attempt,
   * which learns its input digest only once it has waited for it, is keyed by `from:<LV_INPUT_FROM>` in its place.
   *
   * Why the input digest: the operator numbers attempts per (segment, plan hash, input digest). When segment i-1
   * is rendered again with a new latents digest, segment i starts again at attempt 0 under the same plan hash; a
   * name made of the plan hash and the attempt alone would then be the directory the earlier attempt 0 wrote, and
   * that pod may still be running (being deleted), so two pods would write one directory.
   */
  attemptKeyChars: 16,
  clip: "clip.mp4",
  poster: "poster.png",
  /** Written last: its presence means the segment directory is complete. */
  result: "result.json",
  /** The tensors the successor consumes (safetensors). */
  handoff: "latents.safetensors",
  /**
   * Written atomically as soon as the hand-off file is complete, before the clip is decoded (pro) or encoded (shot,
   * film, talk, dance): JSON `{latentsDigest, committedAt}` (ISO 8601 with milliseconds). A warm successor polls for
   * it; `result.json` is still written last, and only it makes the attempt complete.
   */
  handoffCommit: "handoff.json",
  /** Marks a file being written; renamed into place when complete. */
  temporaryMark: ".tmp-",
} as const;

/** The directory holding every attempt at segment `index`, relative to the workspace. */
export function segmentDir(index: number): string {
  return `${workspaceLayout.segmentsDir}/${String(index)}`;
}

/**
 * The key naming the attempts at a segment of plan `hash` consuming the hand-off `inputDigest` ("" for segment
 * 0): the first `attemptKeyChars` hex characters of sha256 over the UTF-8 text `<hash>|<inputDigest>`.
 */
export function attemptKey(hash: string, inputDigest: string): string {
  const digest = createHash("sha256").update(`${hash}|${inputDigest}`, "utf8").digest("hex");
  return digest.slice(0, workspaceLayout.attemptKeyChars);
}

/**
 * The directory one attempt at a segment writes, relative to the workspace: `segments/<index>/<key>-<attempt>/`,
 * the key of the segment's plan hash and the digest of the hand-off it consumes ("" for segment 0).
 */
export function attemptDir(index: number, hash: string, inputDigest: string, attempt: number): string {
  return `${segmentDir(index)}/${attemptKey(hash, inputDigest)}-${String(attempt)}`;
}

/**
 * The termination message (JSON, at most 4096 bytes): the fields each outcome carries. The operator reads
 * `latentsDigest`, `inputDigest`, `frames`, `seconds` and `error`; the rest is for people reading the pod.
 */
export const terminationMessage = {
  maxBytes: 4096,
  segment: [
    "ok",
    "segment",
    "backend",
    "variant",
    "frames",
    "keptFrames",
    "inputDigest",
    "latentsDigest",
    "seconds",
    "reused",
    // Warm start's measures (docs/adr/0026): seconds from the process start to models loaded, waiting for the
    // hand-off, denoising, decoding and encoding; and ISO 8601 instants of the hand-off committed, of the
    // predecessor's hand-off seen (warm only) and of denoising started.
    "phases",
    "committedAt",
    "handoffSeenAt",
    "denoiseStartedAt",
  ],
  concat: ["ok", "kind", "path", "frames", "seconds", "segments", "audio", "digest", "contactSheet", "elapsed"],
  /**
   * A probe's report: the audio's duration in seconds, the skeleton video's frame count and its own frame rate;
   * a field is absent when the film has no such input. `modelFiles`: with LV_CHECK_MODELS, how many files of the
   * model cache were checked and found right.
   */
  probe: ["ok", "kind", "audioSeconds", "poseFrames", "poseFps", "modelFiles", "elapsed"],
  /**
   * `missingSegment`: with reason handoff, the first segment whose hand-off or clip is missing or corrupt.
   * `field`: with reason bad-input, the spec field whose input cannot be read (`spec.audio`, `spec.pose`,
   * `spec.storage.models.claimName`).
   * `modelProblems`: with field `spec.storage.models.claimName`, the model cache's problems as `{file, problem}`
   * (file relative to LV_MODELS_DIR), the first ones that fit the message; `error` says how many there are.
   */
  failure: [
    "ok",
    "segment",
    "inputDigest",
    "backend",
    "kind",
    "exitCode",
    "reason",
    "error",
    "missingSegment",
    "field",
    "modelProblems",
  ],
} as const;

/** The contract as one plain JSON document: what `contract.json` holds. */
export function runtimeContract(): Record<string, unknown> {
  return {
    version: runtimeContractVersion,
    mountPaths,
    commands: runtimeCommands,
    env: runtimeEnv,
    exitCodes,
    failureReasons,
    workspaceLayout,
    terminationMessage,
    referenceFetch,
    backends,
    framesPerLatent,
    clipFrames,
    defaultSeedMultiplier,
    variants: Object.fromEntries(variants.map((variant) => [variant, variantProfiles[variant]])),
  };
}

/** `contract.json`'s text, as generated. */
export function runtimeContractJson(): string {
  return `${JSON.stringify(runtimeContract(), null, 2)}\n`;
}
