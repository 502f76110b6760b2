/**
 * CPU, memory and shared memory of a segment pod when `spec.resources` leaves them unset: per variant for the svi
 * backend, sized for the real Wan weights the variant loads, and one small set for the animatic backend. The
 * arithmetic is written out below and in docs/adr/0011-segment-pod-resources.md; the unit test holds the defaults
 * to it.
 *
 * Host memory, not GPU memory, is what a segment pod's memory limit bounds. The svi runtime
 * (`runtime-image/src/longvideo_runtime/svi/models.py`) loads every component into host memory first and moves the
 * denoiser(s) and the VAE to the GPU afterwards, keeping the text and image encoders on the CPU (offloaded); Wan
 * 2.2's second expert waits in host memory while the first runs, and the two change places at the expert switch.
 */
import type { Backend } from "./long-video-spec.ts";
import { variantProfiles } from "./variant-profiles.ts";
import type { Variant } from "./variant-profiles.ts";

/** A Kubernetes request and limit, as quantity strings (`500m`, `18Gi`). */
export interface RequestAndLimit {
  readonly request: string;
  readonly limit: string;
}

/** What a segment pod's render container gets: CPU, memory, and the size of its memory-backed `/dev/shm`. */
export interface SegmentResources {
  readonly cpu: RequestAndLimit;
  readonly memory: RequestAndLimit;
  readonly sharedMemory: string;
}

/**
 * The host memory a model's weights take, in bytes, from the published bf16 checkpoints (1 GB = 1e9 bytes):
 * reference/svi-protocol.md gives Wan 2.1 I2V 14B as 32.8 GB, umt5-xxl as 11.4 GB and the VAE as 0.5 GB; Wan 2.2
 * I2V A14B's experts are 28.6 GB each (28,577,914,792 bytes in the repackaged fp16 files), its text encoder and VAE
 * Wan 2.1's; the CLIP ViT-H/14 image encoder is 1.26 GB in 16 bits.
 */
export interface ModelFootprint {
  /** One denoising transformer (an expert, for Wan 2.2). */
  readonly transformerBytes: number;
  /** Denoising transformers: 1 for Wan 2.1, 2 for Wan 2.2 A14B (high-noise and low-noise experts). */
  readonly transformers: 1 | 2;
  /** UMT5-XXL encoder (about 5.7e9 parameters) in bf16; it stays on the CPU. */
  readonly textEncoderBytes: number;
  /** CLIP ViT-H/14 vision tower in bf16, on the CPU; Wan 2.2 I2V has none. */
  readonly imageEncoderBytes: number;
  /** The Wan VAE, kept in float32 by the runtime (moved to the GPU after loading). */
  readonly vaeBytes: number;
}

const gb = 1e9;
const gib = 2 ** 30;

const wan21 = variantProfiles.film.weights.model;
const wan22 = variantProfiles.pro.weights.model;

/** The base models the variants load by default (variant-profiles.ts), by their directory in the model cache. */
export const modelFootprints: Readonly<Record<string, ModelFootprint>> = {
  [wan21]: {
    transformerBytes: 32.8 * gb,
    transformers: 1,
    textEncoderBytes: 11.4 * gb,
    imageEncoderBytes: 1.26 * gb,
    vaeBytes: 0.508 * gb,
  },
  [wan22]: {
    transformerBytes: 28.6 * gb,
    transformers: 2,
    textEncoderBytes: 11.4 * gb,
    imageEncoderBytes: 0,
    vaeBytes: 0.508 * gb,
  },
};

/**
 * What the runtime holds besides the weights, in bytes (assumptions, see the ADR): one checkpoint shard read and
 * converted while loading (the published layouts store float32 shards of up to 10 GB); Python, PyTorch and the
 * CUDA context; the clip in host memory while it is encoded (121 frames of 1280x720 in float32 and uint8: 1.7 GB).
 */
export const runtimeHostBytes = { loadingShard: 10 * gb, process: 3 * gib, clipBuffers: 2 * gib } as const;

/** Host memory a segment needs, in bytes: at its peak (loading, or Wan 2.2's expert switch) and while sampling. */
export function hostMemoryNeeds(model: ModelFootprint, ranks = 1): { readonly peak: number; readonly steady: number } {
  const encoders = model.textEncoderBytes + model.imageEncoderBytes;
  const experts = model.transformers * model.transformerBytes;
  // With several GPUs (ADR 0023) each rank is a process that loads its own copy of the experts, and only rank 0
  // the encoders and the VAE; the ranks load at once.
  const perRank = runtimeHostBytes.loadingShard + runtimeHostBytes.process;
  const loading = ranks * (experts + perRank) + encoders + model.vaeBytes;
  // At Wan 2.2's switch the outgoing expert is copied to host memory before the incoming one leaves it.
  const switching = ranks * (experts + runtimeHostBytes.process) + encoders + runtimeHostBytes.clipBuffers;
  // Sampling: the encoders on the CPU, and Wan 2.2's idle expert waiting there, one per rank.
  const parked = (model.transformers - 1) * model.transformerBytes;
  const steady = ranks * (parked + runtimeHostBytes.process) + encoders + runtimeHostBytes.clipBuffers;
  return { peak: Math.max(loading, model.transformers > 1 ? switching : 0), steady };
}

/**
 * Defaults of the svi backend, per variant. Memory: the request covers sampling (Wan 2.1: 16.8 GiB, Wan 2.2 A14B:
 * 42.3 GiB), the limit the loading peak (55.1 and 76.7 GiB) plus a full `/dev/shm` with at least 15% to spare.
 * CPU: one core drives the GPU, the text encoder runs on the CPU once per clip, ffmpeg encodes the clip; the limit
 * lets loading and the text encoder use a GPU's usual share of a node's cores. `/dev/shm`: the single-process
 * runtime barely uses it, but PyTorch's inter-process tensors and NCCL (several GPUs in a pod) live there, and
 * container runtimes give only 64 MiB.
 */
const sviWan21: SegmentResources = {
  cpu: { request: "4", limit: "16" },
  memory: { request: "18Gi", limit: "72Gi" },
  sharedMemory: "2Gi",
};

const sviWan22: SegmentResources = {
  cpu: { request: "4", limit: "16" },
  memory: { request: "44Gi", limit: "96Gi" },
  sharedMemory: "2Gi",
};

/**
 * Talk and Dance load Wan 2.1 like Shot and Film, plus MultiTalk's audio layers and chinese-wav2vec2-base (Talk) or
 * UniAnimate's pose encoder (Dance). Those are not in the footprint above (their sizes were not measured here); the
 * Wan 2.1 limit's spare 15% is what they use (docs/adr/0020-talk-and-dance-inputs.md).
 */
/**
 * The per-backend, per-variant defaults. animatic draws with numpy and Pillow on one core and encodes with ffmpeg:
 * its peak resident memory, measured, is 0.33 GiB at 832x480 x 81 frames and 1.0 GiB at 1280x720 x 121 frames.
 */
export const segmentResourceDefaults: {
  readonly svi: Readonly<Record<Variant, SegmentResources>>;
  readonly animatic: SegmentResources;
} = {
  svi: { shot: sviWan21, film: sviWan21, pro: sviWan22, talk: sviWan21, dance: sviWan21 },
  animatic: {
    cpu: { request: "500m", limit: "2" },
    memory: { request: "512Mi", limit: "2Gi" },
    sharedMemory: "64Mi",
  },
};

/**
 * The resources of a segment pod whose film sets none, for `gpus` GPUs per pod (spec.gpu.count). One GPU: the table
 * above. Several: the svi worker runs one process per GPU (ADR 0023), so host memory follows {@link hostMemoryNeeds}
 * for that many ranks (the request covers sampling, the limit the loading peak and a full `/dev/shm` with 20% to
 * spare, both in whole GiB); each further GPU adds 2 cores to the request and 4 to the limit (a rank drives its GPU
 * and loads its copy of the weights), and 1 GiB of `/dev/shm` (NCCL's buffers between the ranks).
 */
export function defaultSegmentResources(variant: Variant, backend: Backend, gpus = 1): SegmentResources {
  if (backend !== "svi") return segmentResourceDefaults.animatic;
  const single = segmentResourceDefaults.svi[variant];
  const footprint = modelFootprints[variantProfiles[variant].weights.model];
  if (gpus <= 1 || footprint === undefined) return single;
  const more = gpus - 1;
  const sharedMemoryGi = 2 + more;
  const { peak, steady } = hostMemoryNeeds(footprint, gpus);
  const wholeGi = (bytes: number) => `${String(Math.ceil(bytes / gib))}Gi`;
  return {
    cpu: { request: String(4 + 2 * more), limit: String(16 + 4 * more) },
    memory: { request: wholeGi(steady), limit: wholeGi(1.2 * (peak + sharedMemoryGi * gib)) },
    sharedMemory: `${String(sharedMemoryGi)}Gi`,
  };
}
