/**
 * What each SVI variant implies for rendering, in one place: the planner, the CRD's rules and the reconciler all
 * read their per-variant defaults here. The figures follow the SVI protocol notes (reference/svi-protocol.md):
 * Shot, Film and Dance pass decoded motion frames and drop the last k frames of every clip but the last; Pro passes
 * latent frames and drops the first frames of every clip after the first; Talk keeps every frame of every clip, as
 * SVI's test_svi_talk.py does (docs/adr/0020-talk-and-dance-inputs.md).
 */

/** The variants this API version accepts. */
export const variants = ["shot", "film", "pro", "talk", "dance"] as const;
export type Variant = (typeof variants)[number];

/** What fills the conditioning frames after the motion frames: the reference image, zeros, or Pro's anchor latent. */
export type Padding = "reference" | "zeros" | "anchor";

/**
 * Which end of a clip stitching drops: its tail (the next clip regenerates it), its head (it repeats the last), or
 * nothing (Talk: SVI keeps all 81 frames of every clip, so the film runs exactly as long as its clips).
 */
export type TrimEnd = "tail" | "head" | "none";

/** What drives a variant besides the text: nothing, the film's audio track (Talk) or a skeleton video (Dance). */
export type Conditioning = "text" | "audio" | "pose";

/** Everything rendering needs to know about a variant. */
export interface VariantProfile {
  /** Motion frames handed from clip to clip when `spec.render.motionFrames` is not set. */
  readonly motionFrames: number;
  /** Whether motion frames are decoded pixel frames or latent frames. */
  readonly motionUnit: "pixel" | "latent";
  readonly padding: Padding;
  /** Text classifier-free guidance when `spec.render.guidanceScale` is not set. */
  readonly guidanceScale: number;
  readonly trim: TrimEnd;
  /** Scenes (prompts) the variant can use; Shot uses the first prompt only. */
  readonly maxScenes: number;
  /** The weights the runtime loads by default, relative to the model cache. */
  readonly weights: VariantWeights;
  /** What conditions each clip besides the prompt and the motion frames. */
  readonly conditioning: Conditioning;
  /**
   * Audio classifier-free guidance when `spec.render.audioGuidanceScale` is not set: Talk's third pass per step
   * (SVI's `--cfg_scale_audio` 5.0). 1 means no audio pass (a scale of 1 leaves the conditional prediction alone).
   */
  readonly audioGuidanceScale: number;
  /** Frames per second when `spec.render.fps` is not set: SVI's Talk and Dance save at 25, its other scripts 16. */
  readonly fps: number;
  /** The widest frame SVI renders the variant at (`calculate_dimensions(..., max_width=640)` for Talk and Dance). */
  readonly maxWidth: number;
  /**
   * Frame size when `spec.render.resolution` leaves it unset: 832x480, or for Talk and Dance the same landscape
   * frame capped at 640 wide the way SVI caps a reference image (height scaled, rounded down to 16: 640x368).
   */
  readonly resolution: { readonly width: number; readonly height: number };
}

/**
 * Default weight paths under the model cache: the base model in diffusers layout, and SVI's LoRA file(s) as
 * vita-video-gen/svi-model publishes them (`svi/version-1.0/`, `svi/version-2.0/`).
 */
export interface VariantWeights {
  readonly model: string;
  readonly lora: string;
  /** Wan 2.2's low-noise expert LoRA ("" for single-expert models). */
  readonly lora2: string;
}

/** Shot, Film and Pro: text only, at the project's 16 fps and SVI's 480p landscape frame. */
const textOnly = {
  conditioning: "text",
  audioGuidanceScale: 1,
  fps: 16,
  maxWidth: 1280,
  resolution: { width: 832, height: 480 },
} as const;

export const variantProfiles: Readonly<Record<Variant, VariantProfile>> = {
  shot: {
    motionFrames: 1,
    motionUnit: "pixel",
    padding: "reference",
    guidanceScale: 5,
    trim: "tail",
    maxScenes: 1,
    weights: { model: "Wan2.1-I2V-14B-480P-Diffusers", lora: "svi/version-1.0/svi-shot.safetensors", lora2: "" },
    ...textOnly,
  },
  film: {
    motionFrames: 5,
    motionUnit: "pixel",
    padding: "zeros",
    guidanceScale: 5,
    trim: "tail",
    maxScenes: 64,
    weights: {
      model: "Wan2.1-I2V-14B-480P-Diffusers",
      lora: "svi/version-1.0/svi-film-opt-10212025.safetensors",
      lora2: "",
    },
    ...textOnly,
  },
  pro: {
    motionFrames: 1,
    motionUnit: "latent",
    padding: "anchor",
    // The protocol notes give 5.0 for Shot, Film and 2.0; Pro keeps the same text guidance.
    guidanceScale: 5,
    trim: "head",
    maxScenes: 64,
    weights: {
      model: "Wan2.2-I2V-A14B-Diffusers",
      lora: "svi/version-2.0/SVI_Wan2.2-I2V-A14B_high_noise_lora_v2.0_pro.safetensors",
      lora2: "svi/version-2.0/SVI_Wan2.2-I2V-A14B_low_noise_lora_v2.0_pro.safetensors",
    },
    ...textOnly,
  },
  // test_svi_talk.py and scripts/test/svi_talk.sh: 1 motion frame, ref_pad_num -1, cfg text 2.0 and audio 5.0, every
  // clip kept whole (`video_list += video`), 25 fps, width capped at 640.
  talk: {
    motionFrames: 1,
    motionUnit: "pixel",
    padding: "reference",
    guidanceScale: 2,
    trim: "none",
    maxScenes: 64,
    weights: { model: "Wan2.1-I2V-14B-480P-Diffusers", lora: "svi/version-1.0/svi-talk.safetensors", lora2: "" },
    conditioning: "audio",
    audioGuidanceScale: 5,
    fps: 25,
    maxWidth: 640,
    resolution: { width: 640, height: 368 },
  },
  // test_svi_dance.py and scripts/test/svi_dance.sh: 1 motion frame, ref_pad_num -1, cfg text 2.0 (audio 1.0: no
  // audio), the last motion frames of every clip but the last dropped (`video[:-num_motion_frames]`), 25 fps, width
  // capped at 640.
  dance: {
    motionFrames: 1,
    motionUnit: "pixel",
    padding: "reference",
    guidanceScale: 2,
    trim: "tail",
    maxScenes: 64,
    weights: { model: "Wan2.1-I2V-14B-480P-Diffusers", lora: "svi/version-1.0/svi-dance.safetensors", lora2: "" },
    conditioning: "pose",
    audioGuidanceScale: 1,
    fps: 25,
    maxWidth: 640,
    resolution: { width: 640, height: 368 },
  },
};

/**
 * Frames per clip the base model (Wan 2.1/2.2 image-to-video at 480p) renders well: 4n+1 because its VAE packs
 * four frames into every latent frame after the first. SVI is trained on 81-frame clips.
 */
export const clipFrames = { min: 17, max: 121, default: 81 } as const;

/** SVI seeds clip i with `i * 42` unless told otherwise; distinct seeds keep noise from repeating across clips. */
export const defaultSeedMultiplier = 42;

/** Decoded frames one latent frame stands for, after the first latent frame (which stands for one). */
export const framesPerLatent = 4;

/**
 * Decoded frames stitching drops between two consecutive clips (the frames they share, kept once): k motion frames
 * for pixel-passing variants; for latent-passing Pro the anchor frame plus four per latent motion frame (5 for m = 1,
 * SVI's `num_overlap_frame`); none for Talk, whose clips SVI keeps whole.
 */
export function overlapFrames(profile: VariantProfile, motionFrames: number): number {
  if (profile.trim === "none") return 0;
  return profile.motionUnit === "pixel" ? motionFrames : 1 + framesPerLatent * motionFrames;
}

/** The variants whose width SVI caps below the schema's own limit, with that cap: Talk and Dance (640). */
export function narrowVariants(): { readonly variant: Variant; readonly maxWidth: number }[] {
  return variants
    .filter((v) => variantProfiles[v].maxWidth < 1280)
    .map((v) => ({ variant: v, maxWidth: variantProfiles[v].maxWidth }));
}
