/**
 * What each SVI variant implies for rendering, in one place: the planner, the CRD's rules and the reconciler all
 * read their per-variant defaults here. The figures follow the SVI protocol notes (reference/svi-protocol.md):
 * Shot and Film pass decoded motion frames and drop the last k frames of every clip but the last; Pro passes latent
 * frames and drops the first frames of every clip after the first.
 */

/** The variants this API version accepts (talk and dance come later, with their audio and pose inputs). */
export const variants = ["shot", "film", "pro"] as const;
export type Variant = (typeof variants)[number];

/** What fills the conditioning frames after the motion frames: the reference image, zeros, or Pro's anchor latent. */
export type Padding = "reference" | "zeros" | "anchor";

/** Which end of a clip stitching drops: its tail (the next clip regenerates it) or its head (it repeats the last). */
export type TrimEnd = "tail" | "head";

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

export const variantProfiles: Readonly<Record<Variant, VariantProfile>> = {
  shot: {
    motionFrames: 1,
    motionUnit: "pixel",
    padding: "reference",
    guidanceScale: 5,
    trim: "tail",
    maxScenes: 1,
    weights: { model: "Wan2.1-I2V-14B-480P-Diffusers", lora: "svi/version-1.0/svi-shot.safetensors", lora2: "" },
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
 * Decoded frames two consecutive clips share, which stitching drops once: k motion frames for pixel-passing
 * variants; for latent-passing Pro the anchor frame plus four per latent motion frame (5 for m = 1, SVI's
 * `num_overlap_frame`).
 */
export function overlapFrames(profile: VariantProfile, motionFrames: number): number {
  return profile.motionUnit === "pixel" ? motionFrames : 1 + framesPerLatent * motionFrames;
}
