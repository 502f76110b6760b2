/**
 * The segment plan: a storyline and render settings, turned into the clips ("segments") SVI renders one after
 * another. Pure: the same spec always gives the same plan, byte for byte, which is what lets the reconciler compare
 * a stored segment record with the plan of an edited spec.
 *
 * How a film is stitched decides how long it is. Consecutive clips overlap by a few decoded frames (the motion
 * frames handed from one clip to the next), and stitching keeps each overlap once: Shot and Film drop the tail of
 * every clip but the last, Pro drops the head of every clip but the first. So every clip adds `framesPerClip -
 * overlap` frames to the film, and one clip (the last, or for Pro the first) adds the overlap on top.
 *
 * A scene with its own keyframe starts a new chain (docs/adr/0025): its first clip starts from the keyframe instead
 * of continuing the clip before it, so nothing overlaps across the boundary. Each chain is stitched as a film of its
 * own (its last clip keeps its tail, or for Pro its first clip its head), and its hashes restart from nothing.
 */
import { createHash } from "node:crypto";
import { canonicalJson } from "./canonical-json.ts";
import { resolvedResolution } from "../api/long-video-spec.ts";
import type { Backend, ExtraLora, LongVideoSpec, MediaSource, RenderSettings } from "../api/long-video-spec.ts";
import { maxSegments } from "../api/long-video-status.ts";
import { overlapFrames, variantProfiles } from "../api/variant-profiles.ts";
import type { Padding, Variant } from "../api/variant-profiles.ts";
import type { ConditioningWindow } from "../api/runtime-contract.ts";

/** What the planner reads from a spec (defaults applied). */
export type PlanInput = Pick<LongVideoSpec, "variant" | "referenceImage" | "storyline" | "render" | "audio" | "pose">;

/**
 * What the operator learned about a film's inputs before planning (the probe Job, recorded in `status.inputs`): the
 * audio's duration, which a talk storyline without lengths follows. (The skeleton video's frame count is recorded
 * too, but windows loop over it in the runtime, so the plan does not depend on it.)
 */
export interface ProbedInputs {
  readonly audioSeconds?: number;
}

/** The render settings of a film after per-variant defaults: what every segment of it is rendered with. */
export interface ResolvedRender {
  readonly variant: Variant;
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly framesPerClip: number;
  /** Motion frames handed to the next clip, in the variant's unit (decoded frames, or latent frames for Pro). */
  readonly motionFrames: number;
  readonly motionUnit: "pixel" | "latent";
  /** Decoded frames two consecutive clips share. */
  readonly overlapFrames: number;
  readonly padding: Padding;
  readonly guidanceScale: number;
  /** Talk's audio guidance; 1 (no audio pass) for the other variants. */
  readonly audioGuidanceScale: number;
  readonly steps: number;
  readonly seedMultiplier: number;
  readonly backend: Backend;
  /** The film-wide negative prompt and extra LoRAs, which a scene's own add to or replace. */
  readonly negativePrompt: string;
  readonly loras: readonly ExtraLora[];
}

/** One segment: everything its render pod is told, where its frames land in the film, and its content hash. */
export interface SegmentSpec extends SegmentSampling {
  /** Position in the film, from 0. */
  readonly index: number;
  /** The chain the segment belongs to, from 0 (scenes from one keyframe, or the reference image, to the next). */
  readonly chain: number;
  /** Whether the segment starts its chain from an image (segment 0, or a keyframed scene's first clip). */
  readonly chainStart: boolean;
  /** The image a keyframed chain starts from and takes as its reference; absent in the first chain. */
  readonly keyframe?: MediaSource;
  /** The scene the segment belongs to, and its position within that scene. */
  readonly scene: number;
  readonly clipInScene: number;
  readonly prompt: string;
  /** `index * seed multiplier`, as SVI seeds its clips; or the scene's seed plus the clip's place in the scene. */
  readonly seed: number;
  /** Frames the model generates for this clip (`framesPerClip`). */
  readonly framesGenerated: number;
  /** Decoded frames stitching drops from the start and from the end of this clip. */
  readonly trimHead: number;
  readonly trimTail: number;
  /** Frames this segment contributes to the film. */
  readonly framesKept: number;
  /** Index of its first kept frame in the film, and when that frame plays. */
  readonly startFrame: number;
  readonly startSeconds: number;
  /** Talk: the audio this clip speaks, SVI's window (`i * frames - motionFrames`, 0 for clip 0) plus the offset. */
  readonly audioWindow?: ConditioningWindow;
  /** Dance: the skeleton frames this clip follows, the film's own frames (`startFrame`), looping over the video. */
  readonly poseWindow?: ConditioningWindow;
  /**
   * sha256 of everything that decides what this segment renders, chained through the previous segment's hash
   * within its chain: equal hashes mean equal clips, and a change anywhere upstream in the chain changes every
   * hash after it, up to the chain's end.
   */
  readonly hash: string;
}

/** One scene as planned. */
export interface ScenePlan {
  readonly index: number;
  readonly prompt: string;
  /** What the spec asked for. */
  /** What the spec asked for; `audio` when a talk scene leaves its length to the audio's duration. */
  readonly requested: { readonly clips: number } | { readonly seconds: number } | { readonly audio: true };
  readonly clips: number;
  readonly frames: number;
  readonly seconds: number;
}

/**
 * One chain of the film: the segments from one image (the reference image, or a scene's keyframe) up to the next
 * keyframed scene, rendered one after another; chains render in parallel with each other.
 */
export interface ChainPlan {
  readonly index: number;
  /** Its first and last segment, and its first and last scene. */
  readonly firstSegment: number;
  readonly lastSegment: number;
  readonly firstScene: number;
  readonly lastScene: number;
  readonly segments: number;
}

export interface PlanTotals {
  readonly segments: number;
  readonly frames: number;
  readonly seconds: number;
}

export interface SegmentPlan {
  readonly render: ResolvedRender;
  readonly scenes: readonly ScenePlan[];
  readonly segments: readonly SegmentSpec[];
  /** The chains, in storyline order; one for a film without keyframes. */
  readonly chains: readonly ChainPlan[];
  readonly totals: PlanTotals;
  /** The film's audio track as concat muxes it: from the offset, as many frames as the film has. */
  readonly audioTrack?: ConditioningWindow;
}

/** A spec the schema accepts but that cannot be planned, reported like a field error. */
export interface PlanError {
  readonly field: string;
  readonly message: string;
}

export type SegmentPlanResult =
  { readonly ok: true; readonly plan: SegmentPlan } | { readonly ok: false; readonly error: PlanError };

export interface PlanOptions {
  /** The backend of films that name none (the operator's configured default); svi when not given. */
  readonly defaultBackend?: Backend;
  /** What the probe measured; required when a talk storyline leaves its length to the audio. */
  readonly inputs?: ProbedInputs;
}

// Frames are counted from seconds * fps; a product like 1.1 * 10 = 11.000000000000002 must not ask for a 12th frame.
const frameEpsilon = 1e-9;

/** The settings every segment of the film is rendered with, per-variant defaults filled in. */
export function resolvedRender(
  variant: Variant,
  render: RenderSettings,
  defaultBackend: Backend = "svi",
): ResolvedRender {
  const profile = variantProfiles[variant];
  const motionFrames = render.motionFrames ?? profile.motionFrames;
  const { width, height } = resolvedResolution({ variant, render });
  return {
    variant,
    width,
    height,
    fps: render.fps ?? profile.fps,
    framesPerClip: render.framesPerClip,
    motionFrames,
    motionUnit: profile.motionUnit,
    overlapFrames: overlapFrames(profile, motionFrames),
    padding: profile.padding,
    guidanceScale: render.guidanceScale ?? profile.guidanceScale,
    audioGuidanceScale: render.audioGuidanceScale ?? profile.audioGuidanceScale,
    steps: render.steps,
    seedMultiplier: render.seed,
    backend: render.backend ?? defaultBackend,
    negativePrompt: render.negativePrompt ?? "",
    loras: render.loras ?? [],
  };
}

/**
 * Clips a scene needs so that its kept frames last at least `seconds`. `carriesOverlap` is true for the scene
 * holding the one clip that keeps its overlap frames (the last scene, or the first for head-trimmed variants).
 */
export function clipsForSeconds(seconds: number, render: ResolvedRender, carriesOverlap: boolean): number {
  const needed = Math.ceil(seconds * render.fps - frameEpsilon);
  const perClip = render.framesPerClip - render.overlapFrames;
  const extra = carriesOverlap ? render.overlapFrames : 0;
  return Math.max(1, Math.ceil((needed - extra) / perClip));
}

/** How one clip is sampled: the scene's settings over the film's. */
export interface SegmentSampling {
  /** Sampler steps, text guidance and negative prompt: the scene's, else the film's. */
  readonly steps: number;
  readonly guidanceScale: number;
  readonly negativePrompt: string;
  /** Extra LoRAs merged for this clip: the film's, then the scene's. */
  readonly loras: readonly ExtraLora[];
}

/** A scene's sampling settings over the film's: each one the scene sets wins; its LoRAs add to the film's. */
export function sceneSampling(render: ResolvedRender, scene: PlanInput["storyline"][number]): SegmentSampling {
  return {
    steps: scene.steps ?? render.steps,
    guidanceScale: scene.guidanceScale ?? render.guidanceScale,
    negativePrompt: scene.negativePrompt ?? render.negativePrompt,
    loras: [...render.loras, ...(scene.loras ?? [])],
  };
}

// Bumped when the meaning of the hashed inputs changes, so old records never match new plans by accident.
const hashScheme = "longvideo.dev/segment/v1";

/**
 * The content hash of a segment: its predecessor's hash and everything that changes the pixels or latents it
 * produces. Deliberately absent: fps (a save-time setting), trimming (a stitching concern, so appending a scene
 * leaves every earlier hash alone), and placement, retries, storage and output (where and how often, not what).
 */
export function segmentHash(
  previous: string,
  render: ResolvedRender,
  referenceImage: LongVideoSpec["referenceImage"],
  segment: SegmentSampling & {
    readonly index: number;
    readonly prompt: string;
    readonly seed: number;
    readonly audio?: { readonly source: MediaSource; readonly window: ConditioningWindow };
    readonly pose?: { readonly source: MediaSource; readonly window: ConditioningWindow };
  },
): string {
  // Absent for shot, film and pro (canonicalJson drops undefined), so their hashes are what they always were.
  const conditioning = {
    audio: segment.audio,
    pose: segment.pose,
    ...(render.audioGuidanceScale === 1 ? {} : { audioGuidanceScale: render.audioGuidanceScale }),
  };
  // Absent unless set, like the conditioning: films without them keep the hashes they always had. A LoRA is
  // named by its path, as the model is by the cache: replacing a file in place is not an edit the plan can see.
  const extras = {
    ...(segment.negativePrompt === "" ? {} : { negativePrompt: segment.negativePrompt }),
    ...(segment.loras.length === 0 ? {} : { loras: segment.loras }),
  };
  const inputs = {
    ...conditioning,
    ...extras,
    scheme: hashScheme,
    previous,
    variant: render.variant,
    referenceImage,
    model: {
      width: render.width,
      height: render.height,
      framesPerClip: render.framesPerClip,
      motionFrames: render.motionFrames,
      padding: render.padding,
      guidanceScale: segment.guidanceScale,
      steps: segment.steps,
      backend: render.backend,
    },
    index: segment.index,
    prompt: segment.prompt,
    seed: segment.seed,
  };
  return createHash("sha256").update(canonicalJson(inputs)).digest("hex");
}

/** The film's segment plan, or why it cannot be planned. */
export function segmentPlan(input: PlanInput, options: PlanOptions = {}): SegmentPlanResult {
  const render = resolvedRender(input.variant, input.render, options.defaultBackend);
  const perClip = render.framesPerClip - render.overlapFrames;
  if (perClip < 1) {
    return {
      ok: false,
      error: {
        field: "spec.render.motionFrames",
        message: `the ${input.variant} variant overlaps ${String(render.overlapFrames)} frames between clips, which leaves no new frames in a ${String(render.framesPerClip)}-frame clip`,
      },
    };
  }
  const counted = clipCounts(input, render, options.inputs);
  if (!counted.ok) return counted;
  const total = counted.clips.reduce((sum, n) => sum + n, 0);
  if (total > maxSegments) {
    return {
      ok: false,
      error: {
        field: "spec.storyline",
        message: `the storyline plans ${String(total)} segments; a film has at most ${String(maxSegments)}`,
      },
    };
  }
  const { segments, scenes, frames } = chainedSegments(input, render, counted.clips);
  const chains = chainPlans(segments);
  const audioTrack = input.audio ? { startFrame: offsetFrames(input, render), frames, loop: false } : undefined;
  return {
    ok: true,
    plan: {
      render,
      scenes,
      segments,
      chains,
      totals: { segments: segments.length, frames, seconds: frames / render.fps },
      ...(audioTrack ? { audioTrack } : {}),
    },
  };
}

/** A film with an input the operator has not measured yet: planned once the probe has. */
function notProbed(field: string): { readonly ok: false; readonly error: PlanError } {
  return { ok: false, error: { field, message: "not read yet: the operator probes it before planning" } };
}

/** The audio offset in whole frames at the film's fps (the nearest frame). */
export function offsetFrames(input: Pick<PlanInput, "audio">, render: ResolvedRender): number {
  return Math.round((input.audio?.offsetSeconds ?? 0) * render.fps);
}

/**
 * Clips per scene: a scene's own length, or, in a talk film, an equal share of what the audio still needs. The audio
 * needs as many whole clips as cover it from the offset to its end (talk keeps whole clips, so `framesPerClip` film
 * frames each); scenes that give a length take theirs first, the rest is shared (earlier scenes take the remainder),
 * at least one clip each.
 */
function clipCounts(
  input: PlanInput,
  render: ResolvedRender,
  inputs: ProbedInputs | undefined,
): { readonly ok: true; readonly clips: number[] } | { readonly ok: false; readonly error: PlanError } {
  const profile = variantProfiles[input.variant];
  const given = input.storyline.map(
    (scene, i) =>
      scene.clips ??
      (scene.seconds === undefined
        ? undefined
        : clipsForSeconds(scene.seconds, render, carriesOverlap(input.storyline, i, profile.trim === "head"))),
  );
  const open = given.filter((n) => n === undefined).length;
  if (open === 0) return { ok: true, clips: given.map((n) => n ?? 0) };
  const audioSeconds = inputs?.audioSeconds;
  if (input.audio === undefined) {
    return {
      ok: false,
      error: { field: "spec.storyline", message: "a scene without clips or seconds needs spec.audio" },
    };
  }
  if (audioSeconds === undefined) return notProbed("spec.audio");
  const audioFrames = Math.ceil(audioSeconds * render.fps - frameEpsilon) - offsetFrames(input, render);
  if (audioFrames < 1) {
    return {
      ok: false,
      error: {
        field: "spec.audio.offsetSeconds",
        message: `the offset is past the audio's end (${audioSeconds.toFixed(2)} s): nothing is left to speak`,
      },
    };
  }
  const needed = Math.max(1, Math.ceil(audioFrames / (render.framesPerClip - render.overlapFrames)));
  const taken = given.reduce<number>((sum, n) => sum + (n ?? 0), 0);
  const rest = Math.max(0, needed - taken);
  let share = 0;
  return {
    ok: true,
    clips: given.map((n) => {
      if (n !== undefined) return n;
      const clips = Math.max(1, Math.floor(rest / open) + (share < rest % open ? 1 : 0));
      share++;
      return clips;
    }),
  };
}

/**
 * Whether scene `i` holds its chain's one clip that keeps its overlap frames: the chain's last scene, or its first
 * for head-trimmed variants (Pro).
 */
function carriesOverlap(storyline: PlanInput["storyline"], i: number, headTrimmed: boolean): boolean {
  if (headTrimmed) return i === 0 || storyline[i]?.keyframe !== undefined;
  return i === storyline.length - 1 || storyline[i + 1]?.keyframe !== undefined;
}

/**
 * GPU time to render every segment once: each segment's seconds (one figure for all, or one per segment) x GPUs
 * per segment.
 */
export function gpuSecondsEstimate(
  plan: SegmentPlan,
  clipRenderSeconds: number | ((segment: SegmentSpec) => number),
  gpus: number,
): number {
  const secondsOf = typeof clipRenderSeconds === "number" ? () => clipRenderSeconds : clipRenderSeconds;
  return plan.segments.reduce((sum, segment) => sum + secondsOf(segment), 0) * gpus;
}

/** Where a clip sits: its scene, its chain, and whether it starts or ends that chain. */
interface ClipPlace {
  readonly index: number;
  readonly scene: number;
  readonly clipInScene: number;
  readonly chain: number;
  readonly chainStart: boolean;
  readonly chainEnd: boolean;
  readonly keyframe: MediaSource | undefined;
  readonly startFrame: number;
  /** The hash of the clip before it in its chain ("" at the chain's start). */
  readonly previous: string;
}

/**
 * Every clip of every scene in order, each hash chained through its predecessor's within its chain, with the
 * scenes' totals.
 */
function chainedSegments(
  input: PlanInput,
  render: ResolvedRender,
  clipCounts: readonly number[],
): { segments: SegmentSpec[]; scenes: ScenePlan[]; frames: number } {
  const chainEnds = chainLastSegments(input.storyline, clipCounts);
  const segments: SegmentSpec[] = [];
  const scenes: ScenePlan[] = [];
  let startFrame = 0;
  let chain = -1;
  let keyframe: MediaSource | undefined;
  for (const [sceneIndex, scene] of input.storyline.entries()) {
    const clips = clipCounts[sceneIndex] ?? 0;
    const sceneStart = startFrame;
    const startsChain = sceneIndex === 0 || scene.keyframe !== undefined;
    if (startsChain) {
      chain++;
      keyframe = scene.keyframe ? mediaSource(scene.keyframe) : undefined;
    }
    for (let clipInScene = 0; clipInScene < clips; clipInScene++) {
      const index = segments.length;
      const chainStart = startsChain && clipInScene === 0;
      const place = { index, scene: sceneIndex, clipInScene, chain, chainStart, keyframe, startFrame };
      const previous = chainStart ? "" : (segments.at(-1)?.hash ?? "");
      const segment = plannedClip(input, render, scene, { ...place, chainEnd: chainEnds.has(index), previous });
      segments.push(segment);
      startFrame += segment.framesKept;
    }
    const frames = startFrame - sceneStart;
    scenes.push({
      index: sceneIndex,
      prompt: scene.prompt,
      requested: requestedLength(scene),
      clips,
      frames,
      seconds: frames / render.fps,
    });
  }
  return { segments, scenes, frames: startFrame };
}

/** One clip as planned: its trims (none across a chain's ends), seed, windows, sampling and hash. */
function plannedClip(
  input: PlanInput,
  render: ResolvedRender,
  scene: PlanInput["storyline"][number],
  place: ClipPlace,
): SegmentSpec {
  const { index, chainStart, keyframe, startFrame } = place;
  const trim = variantProfiles[input.variant].trim;
  const trimHead = trim === "head" && !chainStart ? render.overlapFrames : 0;
  const trimTail = trim === "tail" && !place.chainEnd ? render.overlapFrames : 0;
  const seed = scene.seed === undefined ? index * render.seedMultiplier : scene.seed + place.clipInScene;
  const sampling = sceneSampling(render, scene);
  const windows = conditioningWindows(input, render, index, startFrame, chainStart);
  // A keyframed chain is a film of its own whose reference image is its keyframe: the film's reference image
  // does not change its pixels, and an edit of it leaves the chain alone.
  const hash = segmentHash(place.previous, render, keyframe ?? input.referenceImage, {
    index,
    prompt: scene.prompt,
    seed,
    ...sampling,
    ...hashedWindows(input, windows),
  });
  return {
    index,
    chain: place.chain,
    chainStart,
    ...(keyframe ? { keyframe } : {}),
    scene: place.scene,
    clipInScene: place.clipInScene,
    prompt: scene.prompt,
    seed,
    ...sampling,
    framesGenerated: render.framesPerClip,
    trimHead,
    trimTail,
    framesKept: render.framesPerClip - trimHead - trimTail,
    startFrame,
    startSeconds: startFrame / render.fps,
    ...windows,
    hash,
  };
}

/** The last segment of each chain: the clip before a keyframed scene's first, and the film's last. */
function chainLastSegments(storyline: PlanInput["storyline"], clipCounts: readonly number[]): Set<number> {
  const ends = new Set<number>();
  let next = 0;
  for (const [i, scene] of storyline.entries()) {
    if (i > 0 && scene.keyframe !== undefined) ends.add(next - 1);
    next += clipCounts[i] ?? 0;
  }
  ends.add(next - 1);
  return ends;
}

/** The chains of planned segments, in storyline order. */
function chainPlans(segments: readonly SegmentSpec[]): ChainPlan[] {
  const chains: ChainPlan[] = [];
  for (const segment of segments) {
    const last = chains.at(-1);
    if (last?.index === segment.chain) {
      chains[chains.length - 1] = {
        ...last,
        lastSegment: segment.index,
        lastScene: segment.scene,
        segments: last.segments + 1,
      };
    } else {
      chains.push({
        index: segment.chain,
        firstSegment: segment.index,
        lastSegment: segment.index,
        firstScene: segment.scene,
        lastScene: segment.scene,
        segments: 1,
      });
    }
  }
  return chains;
}

/**
 * The film's critical path: the chain whose clips take longest to render one after another, and how long, given
 * each segment's render seconds. With enough GPUs, the film takes about that long (plus concatenation).
 */
export function criticalPath(
  plan: Pick<SegmentPlan, "chains" | "segments">,
  clipRenderSeconds: (segment: SegmentSpec) => number,
): { readonly chain: number; readonly seconds: number } {
  let longest = { chain: 0, seconds: 0 };
  for (const chain of plan.chains) {
    const seconds = plan.segments
      .slice(chain.firstSegment, chain.lastSegment + 1)
      .reduce((sum, segment) => sum + clipRenderSeconds(segment), 0);
    if (seconds > longest.seconds) longest = { chain: chain.index, seconds };
  }
  return longest;
}

function requestedLength(scene: PlanInput["storyline"][number]): ScenePlan["requested"] {
  if (scene.clips !== undefined) return { clips: scene.clips };
  return scene.seconds === undefined ? { audio: true } : { seconds: scene.seconds };
}

/** A segment's windows with the sources they read, as its hash includes them. */
function hashedWindows(
  input: Pick<PlanInput, "audio" | "pose">,
  windows: { readonly audioWindow?: ConditioningWindow; readonly poseWindow?: ConditioningWindow },
): Pick<Parameters<typeof segmentHash>[3], "audio" | "pose"> {
  const { audioWindow, poseWindow } = windows;
  return {
    ...(audioWindow && input.audio ? { audio: { source: mediaSource(input.audio), window: audioWindow } } : {}),
    ...(poseWindow && input.pose ? { pose: { source: mediaSource(input.pose), window: poseWindow } } : {}),
  };
}

/**
 * Where an input comes from, without the offset (which the windows already count): what the hash and the
 * runtime's LV_AUDIO / LV_POSE name.
 */
export function mediaSource(source: MediaSource): MediaSource {
  if (source.configMap) return { configMap: source.configMap };
  if (source.pvc) return { pvc: source.pvc };
  return source.url === undefined ? {} : { url: source.url };
}

/**
 * The windows clip `index` reads. Talk: SVI's `audio_start_idx = i * 81 - num_motion_frames` (0 for clip 0), with
 * the film's framesPerClip for 81, shifted by the offset. Dance: the film's own frames from `startFrame` (the
 * motion frames at the head of clip i are the tail clip i-1 rendered with the same skeleton frames), always
 * looping: frame n of the film follows skeleton frame n modulo the video's length, as SVI loops a short pose video
 * (docs/adr/0020-talk-and-dance-inputs.md says where this differs from SVI's script).
 */
export function conditioningWindows(
  input: Pick<PlanInput, "variant" | "audio" | "pose">,
  render: ResolvedRender,
  index: number,
  startFrame: number,
  chainStart = index === 0,
): { audioWindow?: ConditioningWindow; poseWindow?: ConditioningWindow } {
  const conditioning = variantProfiles[input.variant].conditioning;
  const frames = render.framesPerClip;
  if (conditioning === "audio" && input.audio) {
    // A chain's first clip carries no motion frames of a predecessor: it speaks from where it lands in the film.
    const svi = chainStart ? startFrame : index * frames - render.motionFrames;
    return { audioWindow: { startFrame: svi + offsetFrames(input, render), frames, loop: false } };
  }
  if (conditioning === "pose" && input.pose) return { poseWindow: { startFrame, frames, loop: true } };
  return {};
}

// The SVI notes report about 12 minutes per 81-frame 480x832 clip at 50 steps on an A800.
const reportedClip = { seconds: 720, steps: 50, frames: 81, pixels: 480 * 832 };

/**
 * A rough render time per clip for the GPU-seconds estimate when none is given: the reported SVI figure (guided, so
 * two transformer passes a step) scaled linearly by steps, passes, frames and pixels (attention grows faster than
 * that, so large frames are underestimated). `sampling` is a segment's own steps and guidance (a scene's), the
 * film's by default. The animatic backend draws on a CPU in about a second per clip.
 */
export function clipRenderSecondsEstimate(
  render: ResolvedRender,
  sampling: Pick<SegmentSampling, "steps" | "guidanceScale"> = render,
): number {
  if (render.backend === "animatic") return 1;
  const passes = sampling.guidanceScale > 1 ? 2 : 1;
  const scale =
    (sampling.steps / reportedClip.steps) *
    (passes / 2) *
    (render.framesPerClip / reportedClip.frames) *
    ((render.width * render.height) / reportedClip.pixels);
  return Math.round(reportedClip.seconds * scale);
}
