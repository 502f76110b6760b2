/**
 * `LongVideo.spec`: what a user asks for. This zod schema is the source of truth for the spec: the TypeScript
 * types are inferred from it and the CRD's openAPIV3Schema is generated from it (scripts/generate.ts). Defaults
 * written with `.default()`/`.prefault()` are applied by the API server; defaults that depend on the variant are
 * not (a structural default cannot depend on another field) and come from `variant-profiles.ts` instead.
 *
 * Every number and string is bounded: the bounds are what a sane film needs, and they keep the CRD's CEL rules
 * within the API server's cost budget.
 */
import * as z from "zod";
import { celValidated } from "./cel-rules.ts";
import type { CelRule } from "./cel-rules.ts";
import {
  configMapKey,
  dnsSubdomain,
  httpUrl,
  labelValue,
  nonBlankPattern,
  qualifiedName,
  relativeMp4Path,
  relativePath,
  relativeSafetensorsPath,
  qualifiedNameMap,
} from "./kubernetes-formats.ts";
import { affinitySchema, tolerationSchema } from "./pod-scheduling.ts";
import { reservedLabelPrefixes, reservedLabels } from "./operator-labels.ts";
import { compareQuantities, cpuQuantity, storageSize } from "./quantity.ts";
import { clipFrames, defaultSeedMultiplier, framesPerLatent, variantProfiles, variants } from "./variant-profiles.ts";
import type { Variant } from "./variant-profiles.ts";

/** Upper bounds shared by the schema, the planner and the tests. */
export const specLimits = {
  scenes: 64,
  clipsPerScene: 64,
  secondsPerScene: 300,
  promptLength: 2000,
  labels: 32,
  annotations: 32,
  annotationValueLength: 4096,
  nodeSelector: 16,
  tolerations: 16,
  gpusPerSegment: 8,
  loras: 8,
  parallelism: 16,
} as const;

/** The render backends: the model on a GPU, or a CPU storyboard preview with the same timing. */
export const backends = ["svi", "animatic"] as const;
export type Backend = (typeof backends)[number];

/**
 * How long one attempt at a segment may take, pending time included, when `spec.render.deadlineSeconds` is not
 * set. svi: a 14B model's load plus 50 steps of an 81-frame 480p clip take about 12 minutes on an A800 (SVI's
 * notes), so two hours leaves room for slower GPUs and larger frames; animatic draws a clip in seconds.
 */
export const defaultDeadlineSeconds: Readonly<Record<Backend, number>> = { svi: 7200, animatic: 600 };

/** The three places a film's input file can come from, described for `what` ("the image", "the audio"). */
function sourceFields(what: string, fetched: string) {
  return {
    configMap: z
      .strictObject({
        name: dnsSubdomain.meta({ description: "ConfigMap in the LongVideo's namespace." }),
        key: configMapKey.meta({ description: `Key in the ConfigMap's binaryData (or data) holding ${what}.` }),
      })
      .exactOptional()
      .meta({ description: `${capitalized(what)} stored in a ConfigMap (up to 1 MiB).` }),
    pvc: z
      .strictObject({
        claimName: dnsSubdomain.meta({ description: "PersistentVolumeClaim in the LongVideo's namespace." }),
        path: relativePath.meta({ description: `Path of ${what} inside the volume.` }),
      })
      .exactOptional()
      .meta({ description: `${capitalized(what)} on a PersistentVolumeClaim.` }),
    url: httpUrl.exactOptional().meta({
      description: `An http(s) URL ${what} is fetched from once, ${fetched}, under the same rules as a reference image URL.`,
    }),
  };
}

function capitalized(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** The rule every source carries: exactly one of its three places. */
function exactlyOneSource(noun: string): CelRule<{ configMap?: unknown; pvc?: unknown; url?: unknown }> {
  return {
    rule: "(has(self.configMap) ? 1 : 0) + (has(self.pvc) ? 1 : 0) + (has(self.url) ? 1 : 0) == 1",
    message: `set exactly one ${noun} source: configMap, pvc or url`,
    holds: (r) => [r.configMap, r.pvc, r.url].filter((s) => s !== undefined).length === 1,
  };
}

const referenceImageSchema = celValidated(
  z
    .strictObject(sourceFields("the image", "before rendering"))
    .meta({ description: "The first frame of the film. Exactly one of configMap, pvc or url." }),
  [exactlyOneSource("image")],
);

/** Upper bound of an audio offset: an hour into the track. */
const maxOffsetSeconds = 3600;

const audioSchema = celValidated(
  z
    .strictObject({
      ...sourceFields("the audio", "before planning"),
      offsetSeconds: z.number().min(0).max(maxOffsetSeconds).exactOptional().meta({
        description:
          "Where in the audio the film starts, in seconds; rounded to the nearest frame at the film's fps. Default 0.",
      }),
    })
    .meta({
      description:
        "The film's audio track (wav, mp3, m4a, flac or any file ffmpeg decodes). Talk: the voice the person " +
        "speaks or sings, required; the number of clips follows its length when the storyline gives none. Dance: " +
        "an optional music track. Either way it is muxed into the film (AAC), trimmed to the film's length. " +
        "Exactly one of configMap, pvc or url.",
    }),
  [exactlyOneSource("audio")],
);

const poseSchema = celValidated(
  z.strictObject(sourceFields("the skeleton video", "before planning")).meta({
    description:
      "Dance: a rendered skeleton (pose) video, such as DWPose draws; frame i drives the film's frame i, and the " +
      "video loops when it is shorter than the film. Exactly one of configMap, pvc or url.",
  }),
  [exactlyOneSource("pose")],
);

/**
 * GPUs a segment may use: the worker splits each attention pass's 40 heads (Wan 2.1 14B and Wan 2.2 A14B) between
 * them, two halves each taking one guidance pass when the count is even, so the count (or its half) must divide 40.
 */
export const sequenceParallelCounts: readonly number[] = [1, 2, 4, 5, 8];

/** Wan 2.2's two experts (the pro variant), as a LoRA names the one it is merged into. */
export const loraExperts = ["highNoise", "lowNoise"] as const;
export type LoraExpert = (typeof loraExperts)[number];

const loraSchema = z
  .strictObject({
    path: relativeSafetensorsPath.meta({
      description: "The LoRA's .safetensors file inside the model cache (spec.storage.models).",
    }),
    strength: z.number().min(-4).max(4).default(1).meta({
      description: "How strongly the LoRA is merged into the weights (its scale); 1 is as trained.",
    }),
    expert: z
      .enum(loraExperts)
      .exactOptional()
      .meta({
        description:
          "Pro (Wan 2.2) only: merge into the high-noise or the low-noise expert alone. Unset: into every expert " +
          "(the one transformer of Wan 2.1).",
      }),
  })
  .meta({
    description:
      "An extra LoRA (a style, a character, a distilled few-step sampler) merged on top of the variant's SVI LoRA " +
      "before rendering. Every key of the file must name a module of the model: a file that does not fit fails the " +
      "segment as bad input.",
  });

const lorasSchema = (where: string) =>
  z
    .array(loraSchema)
    .max(specLimits.loras)
    .exactOptional()
    .meta({ description: `Extra LoRAs ${where}.` });

const negativePromptSchema = (where: string) =>
  z
    .string()
    .max(specLimits.promptLength)
    .exactOptional()
    .meta({
      description: `What guidance steers away from ${where} (the unconditional pass's text); unused at guidance 1.`,
    });

const keyframeSchema = celValidated(
  z.strictObject(sourceFields("the keyframe image", "before rendering")).meta({
    description:
      "The scene's own first frame: the scene starts a new chain of clips from this image instead of continuing " +
      "the previous scene, so it renders in parallel with the chains before it (up to spec.render.parallelism), " +
      "and every clip of its chain takes it as the reference image. Exactly one of configMap, pvc or url.",
  }),
  [exactlyOneSource("keyframe")],
);

const sceneSchema = celValidated(
  z
    .strictObject({
      prompt: z
        .string()
        .min(1)
        .max(specLimits.promptLength)
        .regex(nonBlankPattern)
        .meta({ description: "What happens in the scene; every clip of the scene is rendered from this prompt." }),
      clips: z.int().min(1).max(specLimits.clipsPerScene).exactOptional().meta({
        description:
          "Length of the scene in clips. One of clips or seconds; a talk film may leave both out (the audio decides).",
      }),
      seconds: z
        .number()
        .gt(0)
        .max(specLimits.secondsPerScene)
        .exactOptional()
        .meta({
          description:
            "Length of the scene in seconds of film; rounded up to whole clips, never short. One of clips or seconds; " +
            "a talk film may leave both out (the audio decides).",
        }),
      seed: z
        .int()
        .min(0)
        .max(4_294_967_295)
        .exactOptional()
        .meta({
          description:
            "Noise seed of the scene's first clip; each later clip of the scene adds one. Unset: clip i of the film is " +
            "seeded i * spec.render.seed.",
        }),
      steps: z
        .int()
        .min(1)
        .max(200)
        .exactOptional()
        .meta({ description: "Sampler steps for this scene's clips. Unset: spec.render.steps." }),
      guidanceScale: z.number().min(1).max(20).exactOptional().meta({
        description:
          "Text classifier-free guidance for this scene's clips; 1 runs one pass per step. Unset: spec.render's.",
      }),
      negativePrompt: negativePromptSchema("in this scene; unset: spec.render.negativePrompt"),
      loras: lorasSchema("for this scene's clips, merged after spec.render.loras"),
      keyframe: keyframeSchema.exactOptional(),
    })
    .meta({
      description:
        "One scene of the storyline: a prompt and a length, and optionally its own seed, sampler settings and LoRAs. " +
        "Every setting enters the content hash of the scene's clips, so an edit re-renders from the first clip it changes.",
    }),
  [
    {
      rule: "!(has(self.clips) && has(self.seconds))",
      message: "set exactly one of clips or seconds for each scene",
      holds: (s) => s.clips === undefined || s.seconds === undefined,
    },
  ],
);

const resolutionSchema = z
  .strictObject({
    width: z.int().min(256).max(1280).multipleOf(16).exactOptional().meta({
      description:
        "Width in pixels. Unset: 832, or 640 for talk and dance (at most 640 for those, as SVI renders them).",
    }),
    height: z
      .int()
      .min(256)
      .max(1280)
      .multipleOf(16)
      .exactOptional()
      .meta({ description: "Height in pixels. Unset: 480, or 368 for talk and dance." }),
  })
  .meta({ description: "Frame size; multiples of 16. SVI is trained at 480x832 (landscape) and 832x480." });

const renderSchema = celValidated(
  z
    .strictObject({
      resolution: resolutionSchema.prefault({}),
      fps: z
        .int()
        .min(1)
        .max(60)
        .exactOptional()
        .meta({
          description:
            "Frames per second of the film; SVI's scripts use 16, 24 or 25. Unset: 16, or 25 for talk and dance (talk " +
            "renders at 25 only: its audio features come 25 per second, one per frame).",
        }),
      framesPerClip: celValidated(
        z
          .int()
          .min(clipFrames.min)
          .max(clipFrames.max)
          .default(clipFrames.default)
          .meta({ description: "Frames each clip generates: 4n+1 (17 to 121); SVI is trained on 81." }),
        [
          {
            rule: `self % ${framesPerLatent} == 1`,
            message: "must be 4n+1 (such as 77, 81 or 85): the video VAE packs 4 frames into each latent frame",
            holds: (n) => n % framesPerLatent === 1,
          },
        ],
      ),
      motionFrames: z.int().min(1).max(32).exactOptional().meta({
        description:
          "Frames handed from one clip to the next: decoded frames for shot and film (defaults 1 and 5), latent frames for pro (default 1).",
      }),
      steps: z.int().min(1).max(200).default(50).meta({ description: "Sampler steps per clip." }),
      guidanceScale: z
        .number()
        .min(1)
        .max(20)
        .exactOptional()
        .meta({
          description:
            "Text classifier-free guidance; defaults to the variant's (5.0, or 2.0 for talk and dance). 1 runs one " +
            "transformer pass per step instead of two, the fast path of few-step distilled LoRAs.",
        }),
      negativePrompt: negativePromptSchema("in every clip; unset: none"),
      loras: lorasSchema("for every clip of the film, merged after the variant's SVI LoRA"),
      parallelism: z
        .int()
        .min(1)
        .max(specLimits.parallelism)
        .default(1)
        .meta({
          description:
            "Segment pods of this film that may render at once, each on its own spec.gpu.count GPUs: chains started " +
            "by keyframed scenes render in parallel up to this many. 1: one segment at a time.",
        }),
      warmStart: z
        .boolean()
        .default(true)
        .meta({
          description:
            "Start each segment's pod while the segment before it still renders, so that its model load overlaps the " +
            "render and it starts denoising as soon as the hand-off is committed (docs/adr/0026). It holds a second " +
            "GPU for the overlap; false renders strictly one segment after another. The operator's warmStart " +
            "settings cap it (or turn it off for every film).",
        }),
      audioGuidanceScale: z.number().min(1).max(20).exactOptional().meta({
        description: "Talk: audio classifier-free guidance (SVI's third pass per step); defaults to 5.0.",
      }),
      seed: z
        .int()
        .min(1)
        .max(4_294_967_295)
        .default(defaultSeedMultiplier)
        .meta({ description: "Seed multiplier: clip i is seeded with i * seed, so every clip gets its own noise." }),
      deadlineSeconds: z
        .int()
        .min(5)
        .max(172_800)
        .exactOptional()
        .meta({
          description:
            "How long one attempt at a segment (or at concatenation) may run, waiting for a node included, before " +
            "it fails and counts as a failure. Unset: 7200 for svi, 600 for animatic.",
        }),
      backend: z
        .enum(backends)
        .exactOptional()
        .meta({
          description:
            "svi renders with the model on a GPU; animatic draws a CPU preview of the storyline. Unset: the " +
            "operator's default backend (the Helm value runtime.backend, svi unless changed).",
        }),
    })
    .meta({ description: "How each clip is rendered." }),
  [
    {
      rule: "!has(self.motionFrames) || self.motionFrames < self.framesPerClip",
      message: "must be fewer than framesPerClip",
      fieldPath: ".motionFrames",
      holds: (r) => r.motionFrames === undefined || r.motionFrames < r.framesPerClip,
    },
  ],
);

const podMetadataSchema = z
  .strictObject({
    labels: celValidated(
      qualifiedNameMap(labelValue, specLimits.labels).meta({
        description: "Labels for every pod of the film (cost allocation, network policy selection).",
      }),
      [
        {
          rule:
            "self.all(k, " +
            reservedLabelPrefixes.map((p) => `!k.startsWith('${p}')`).join(" && ") +
            " && " +
            reservedLabels.map((l) => `k != '${l}'`).join(" && ") +
            ")",
          message: `label keys under ${reservedLabelPrefixes.join(", ")} and ${reservedLabels.join(", ")} are set by the operator, the Job controller or Kueue`,
          holds: (labels) =>
            Object.keys(labels).every(
              (k) => !reservedLabelPrefixes.some((p) => k.startsWith(p)) && !reservedLabels.includes(k),
            ),
        },
      ],
    ).exactOptional(),
    annotations: qualifiedNameMap(z.string().max(specLimits.annotationValueLength), specLimits.annotations)
      .meta({ description: "Annotations for every pod of the film." })
      .exactOptional(),
  })
  .meta({ description: "Labels and annotations copied onto every pod the operator creates for this film." });

const gpuSchema = z
  .strictObject({
    nodeSelector: qualifiedNameMap(labelValue, specLimits.nodeSelector)
      .meta({ description: "Node labels a render pod requires, e.g. longvideo.dev/pool: h100." })
      .exactOptional(),
    tolerations: z
      .array(tolerationSchema)
      .max(specLimits.tolerations)
      .exactOptional()
      .meta({ description: "Taints of the GPU pool the render pods tolerate." }),
    affinity: affinitySchema.exactOptional().meta({ description: "Node and pod affinity of the render pods." }),
    count: z.int().min(1).max(specLimits.gpusPerSegment).default(1).meta({ description: "GPUs per segment pod." }),
    resourceName: celValidated(qualifiedName, [
      {
        // cpu, memory, hugepages and ephemeral storage are native resources: asking for "GPUs" of them would
        // reserve CPUs or memory, or be refused when the Job is created.
        rule: "self.contains('/') && !self.contains('kubernetes.io/') && !self.startsWith('requests.')",
        message: "must be an extended resource with a domain outside kubernetes.io, such as nvidia.com/gpu",
        holds: (name) => name.includes("/") && !name.includes("kubernetes.io/") && !name.startsWith("requests."),
      },
    ])
      .default("nvidia.com/gpu")
      .meta({ description: "Extended resource that counts GPUs on the nodes." }),
    priorityClassName: dnsSubdomain.exactOptional().meta({ description: "PriorityClass of the render pods." }),
    queueName: labelValue
      .min(1)
      .exactOptional()
      .meta({ description: "Kueue LocalQueue the render Jobs are submitted to (label kueue.x-k8s.io/queue-name)." }),
  })
  .meta({ description: "Which GPUs render the segments and how pods reach them." });

/** A quantity at `small` is at most the one at `large` when both are set (paths below `self`, e.g. `requests.cpu`). */
function quantityAtMost(small: string, large: string): string {
  const present = (path: string) => {
    const parts = path.split(".");
    return parts.map((_, i) => `!has(self.${parts.slice(0, i + 1).join(".")})`);
  };
  // isQuantity guards quantity(): a string outside the syntax is reported once, by its own pattern.
  return [
    ...present(small),
    ...present(large),
    `!isQuantity(self.${small})`,
    `!isQuantity(self.${large})`,
    `quantity(self.${small}).compareTo(quantity(self.${large})) <= 0`,
  ].join(" || ");
}

/** The twin of {@link quantityAtMost}: true unless both are set, well formed, and `small` exceeds `large`. */
function atMost(small: string | undefined, large: string | undefined): boolean {
  if (small === undefined || large === undefined) return true;
  return (compareQuantities(small, large) ?? 0) <= 0;
}

const cpuAmount = () => cpuQuantity("100m", "512");
const memorySize = () => storageSize("64Mi", "4Ti");

const resourcesSchema = celValidated(
  z
    .strictObject({
      requests: z
        .strictObject({
          cpu: cpuAmount()
            .exactOptional()
            .meta({ description: "CPU cores reserved for the render container, such as 4 or 500m." }),
          memory: memorySize()
            .exactOptional()
            .meta({ description: "Memory reserved for the render container, such as 18Gi." }),
        })
        .exactOptional()
        .meta({ description: "What the scheduler reserves on the node for each segment pod." }),
      limits: z
        .strictObject({
          cpu: cpuAmount()
            .exactOptional()
            .meta({ description: "Most CPU cores the render container may use; it is throttled above." }),
          memory: memorySize()
            .exactOptional()
            .meta({
              description:
                "Most memory the render container may use, /dev/shm included; it is killed above. Must hold the " +
                "model's weights while they load (they pass through host memory on the way to the GPU).",
            }),
        })
        .exactOptional()
        .meta({ description: "The most each segment pod may use." }),
      sharedMemory: storageSize("1Mi", "1Ti").exactOptional().meta({
        description:
          "Size of the memory-backed /dev/shm of each segment pod; what it holds counts against limits.memory.",
      }),
    })
    .meta({
      description:
        "CPU, memory and shared memory of each segment pod (GPUs are spec.gpu's). Each field left unset comes " +
        "from the defaults for the variant and backend: svi shot and film 4/16 CPU, 18Gi/72Gi, 2Gi /dev/shm; svi " +
        "pro 4/16 CPU, 44Gi/96Gi, 2Gi; animatic 500m/2 CPU, 512Mi/2Gi, 64Mi; svi's grow with spec.gpu.count (a " +
        "worker process per GPU, each loading its copy of the model). An unset limit is raised to a " +
        "larger request, an unset request lowered to a smaller limit. Changing them re-renders nothing.",
    }),
  [
    {
      rule: quantityAtMost("requests.cpu", "limits.cpu"),
      message: "must be less than or equal to resources.limits.cpu",
      fieldPath: ".requests.cpu",
      holds: (r) => atMost(r.requests?.cpu, r.limits?.cpu),
    },
    {
      rule: quantityAtMost("requests.memory", "limits.memory"),
      message: "must be less than or equal to resources.limits.memory",
      fieldPath: ".requests.memory",
      holds: (r) => atMost(r.requests?.memory, r.limits?.memory),
    },
    {
      rule: quantityAtMost("sharedMemory", "limits.memory"),
      message: "must be less than or equal to resources.limits.memory: /dev/shm is memory charged to the container",
      fieldPath: ".sharedMemory",
      holds: (r) => atMost(r.sharedMemory, r.limits?.memory),
    },
  ],
);

const storageSchema = z
  .strictObject({
    workspace: z
      .strictObject({
        storageClassName: dnsSubdomain
          .exactOptional()
          .meta({ description: "StorageClass of the workspace claim; the cluster's default when unset." }),
        size: storageSize("1Gi", "64Ti")
          .default("20Gi")
          .meta({ description: "Capacity of the workspace: clips, latents and the film." }),
        accessMode: z.enum(["ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod"]).default("ReadWriteOnce").meta({
          description:
            "Access mode of the workspace claim. Segments run one at a time, so ReadWriteOnce suffices unless pools span nodes that cannot attach the same volume.",
        }),
        whenDeleted: z
          .enum(["Delete", "Retain"])
          .default("Delete")
          .meta({ description: "Delete the workspace with the LongVideo, or Retain it (and every rendered clip)." }),
      })
      .meta({ description: "The film's own PersistentVolumeClaim, created by the operator." })
      .prefault({}),
    models: z
      .strictObject({
        claimName: dnsSubdomain.meta({ description: "PersistentVolumeClaim holding the model weights." }),
      })
      .exactOptional()
      .meta({ description: "The shared model cache, mounted read-only into every svi render pod." }),
  })
  .meta({ description: "Volumes the film is rendered on." });

const outputSchema = z
  .strictObject({
    path: relativeMp4Path.default("film.mp4").meta({ description: "Where the film is written in the workspace." }),
  })
  .meta({ description: "Where the finished film goes." });

const retrySchema = z
  .strictObject({
    limit: z
      .int()
      .min(0)
      .max(10)
      .default(3)
      .meta({ description: "Retries of a failed segment before the film fails." }),
    backoff: celValidated(
      z
        .strictObject({
          initialSeconds: z.int().min(1).max(3600).default(10).meta({ description: "Delay before the first retry." }),
          maxSeconds: z.int().min(1).max(86_400).default(600).meta({ description: "Longest delay between retries." }),
        })
        .meta({ description: "Exponential backoff between retries of a segment." }),
      [
        {
          rule: "self.initialSeconds <= self.maxSeconds",
          message: "initialSeconds must not exceed maxSeconds",
          fieldPath: ".initialSeconds",
          holds: (b) => b.initialSeconds <= b.maxSeconds,
        },
      ],
    ).prefault({}),
  })
  .meta({ description: "How failed segments are retried." });

/** What the spec-level rules read: the fields that decide a variant's inputs, size and lengths. */
interface VariantInputs {
  readonly variant: Variant;
  readonly audio?: unknown;
  readonly pose?: unknown;
  readonly storyline: readonly { readonly clips?: number; readonly seconds?: number }[];
  readonly render: {
    readonly fps?: number;
    readonly resolution: { readonly width?: number; readonly height?: number };
  };
}

const talk = variantProfiles.talk;
const dance = variantProfiles.dance;
const maxPixels = 921_600;

/** A CEL expression for a resolution field, falling back to the variant's default when unset. */
function resolutionCel(field: "width" | "height"): string {
  const narrow = `self.variant in ['talk', 'dance'] ? ${String(talk.resolution[field])} : ${String(variantProfiles.film.resolution[field])}`;
  return `(has(self.render.resolution.${field}) ? self.render.resolution.${field} : (${narrow}))`;
}

/** The frame size a spec renders at, the variant's defaults filled in. */
export function resolvedResolution(spec: Pick<VariantInputs, "variant" | "render">): {
  width: number;
  height: number;
} {
  const defaults = variantProfiles[spec.variant].resolution;
  return {
    width: spec.render.resolution.width ?? defaults.width,
    height: spec.render.resolution.height ?? defaults.height,
  };
}

/**
 * Rules tying the variant to its inputs: talk needs spec.audio, dance spec.pose (and may take spec.audio as its
 * music); talk and dance render at most 640 wide; talk renders at 25 fps; scene lengths may be left to the audio in
 * talk films only.
 */
const variantInputRules: readonly CelRule<VariantInputs>[] = [
  {
    rule: "self.variant != 'talk' || has(self.audio)",
    message: "talk films speak or sing an audio track: set spec.audio (configMap, pvc or url)",
    fieldPath: ".audio",
    reason: "FieldValueRequired",
    holds: (s) => s.variant !== "talk" || s.audio !== undefined,
  },
  {
    rule: "!has(self.audio) || self.variant in ['talk', 'dance']",
    message: "audio is read by talk (the voice) and dance (a music track) only; remove it or change the variant",
    fieldPath: ".audio",
    reason: "FieldValueForbidden",
    holds: (s) => s.audio === undefined || s.variant === "talk" || s.variant === "dance",
  },
  {
    rule: "self.variant != 'dance' || has(self.pose)",
    message: "dance films follow a skeleton video: set spec.pose (configMap, pvc or url)",
    fieldPath: ".pose",
    reason: "FieldValueRequired",
    holds: (s) => s.variant !== "dance" || s.pose !== undefined,
  },
  {
    rule: "!has(self.pose) || self.variant == 'dance'",
    message: "pose is read by the dance variant only; remove it or set variant: dance",
    fieldPath: ".pose",
    reason: "FieldValueForbidden",
    holds: (s) => s.pose === undefined || s.variant === "dance",
  },
  {
    rule: `!(self.variant in ['talk', 'dance']) || !has(self.render.resolution.width) || self.render.resolution.width <= ${String(talk.maxWidth)}`,
    message: `talk and dance render at most ${String(talk.maxWidth)} pixels wide (SVI caps their width at ${String(dance.maxWidth)})`,
    fieldPath: ".render.resolution.width",
    holds: (s) =>
      (s.variant !== "talk" && s.variant !== "dance") ||
      (s.render.resolution.width ?? 0) <= variantProfiles[s.variant].maxWidth,
  },
  {
    rule: `${resolutionCel("width")} * ${resolutionCel("height")} <= ${String(maxPixels)}`,
    message: `at most ${String(maxPixels)} pixels per frame (1280x720): the base model renders 480p to 720p`,
    fieldPath: ".render.resolution",
    holds: (s) => {
      const { width, height } = resolvedResolution(s);
      return width * height <= maxPixels;
    },
  },
  {
    rule: `self.variant != 'talk' || !has(self.render.fps) || self.render.fps == ${String(talk.fps)}`,
    message: `talk renders at ${String(talk.fps)} fps: SVI's audio features come ${String(talk.fps)} per second, one per frame`,
    fieldPath: ".render.fps",
    holds: (s) => s.variant !== "talk" || s.render.fps === undefined || s.render.fps === talk.fps,
  },
  {
    rule: "self.variant == 'talk' || self.storyline.all(s, has(s.clips) || has(s.seconds))",
    message: "set clips or seconds for each scene: only a talk film may leave scene lengths to its audio's duration",
    fieldPath: ".storyline",
    holds: (s) =>
      s.variant === "talk" || s.storyline.every((scene) => scene.clips !== undefined || scene.seconds !== undefined),
  },
];

/** The `spec` of a LongVideo. */
export const longVideoSpecSchema = celValidated(
  z
    .strictObject({
      variant: z
        .enum(variants)
        .default("film")
        .meta({
          description:
            "SVI variant: shot (one prompt), film (a prompt per scene), pro (Wan 2.2, latent hand-off), talk (a person " +
            "speaks or sings spec.audio) or dance (a person follows the skeleton video spec.pose).",
        }),
      referenceImage: referenceImageSchema,
      audio: audioSchema.exactOptional(),
      pose: poseSchema.exactOptional(),
      storyline: z
        .array(sceneSchema)
        .min(1)
        .max(specLimits.scenes)
        .meta({ description: "The scenes of the film, in order." }),
      render: renderSchema.prefault({}),
      gpu: gpuSchema.prefault({}),
      resources: resourcesSchema.exactOptional(),
      podMetadata: podMetadataSchema.exactOptional(),
      storage: storageSchema.prefault({}),
      output: outputSchema.prefault({}),
      retry: retrySchema.prefault({}),
      suspend: z
        .boolean()
        .default(false)
        .meta({ description: "Stop at the next segment boundary; the running segment finishes." }),
    })
    .meta({ description: "A film to render: a reference image, a storyline, and how and where to render it." }),
  [
    {
      rule: `self.variant != 'shot' || size(self.storyline) <= ${variantProfiles.shot.maxScenes}`,
      message: "the shot variant renders a single scene (SVI-Shot uses one prompt); use film for several scenes",
      fieldPath: ".storyline",
      holds: (s) => s.variant !== "shot" || s.storyline.length <= variantProfiles.shot.maxScenes,
    },
    {
      rule: `self.variant != 'pro' || !has(self.render.motionFrames) || ${framesPerLatent} * self.render.motionFrames + 1 < self.render.framesPerClip`,
      message:
        "pro hands over latent frames: 4 * motionFrames + 1 decoded frames overlap, and they must be fewer than framesPerClip",
      fieldPath: ".render.motionFrames",
      holds: (s) =>
        s.variant !== "pro" ||
        s.render.motionFrames === undefined ||
        framesPerLatent * s.render.motionFrames + 1 < s.render.framesPerClip,
    },
    {
      // Above the maximum is its own error; this one speaks of the counts within it.
      rule: `self.gpu.count > ${String(specLimits.gpusPerSegment)} || self.gpu.count in [${sequenceParallelCounts.join(", ")}]`,
      message:
        "a segment's GPUs split Wan 14B's 40 attention heads between them (docs/adr/0023), so 1, 2, 4, 5 or 8 of them",
      fieldPath: ".gpu.count",
      holds: (s) => s.gpu.count > specLimits.gpusPerSegment || sequenceParallelCounts.includes(s.gpu.count),
    },
    {
      rule: "self.variant != 'talk' || self.gpu.count == 1",
      message:
        "talk renders on one GPU: MultiTalk's audio attention pairs each token with its own frame's audio, which a " +
        "split of the tokens between GPUs would cut",
      fieldPath: ".gpu.count",
      holds: (s) => s.variant !== "talk" || s.gpu.count === 1,
    },
    {
      rule: "self.variant == 'pro' || !has(self.render.loras) || self.render.loras.all(l, !has(l.expert))",
      message:
        "expert names one of Wan 2.2's two experts, which only the pro variant has: remove it, and the LoRA is merged into the one transformer",
      fieldPath: ".render.loras",
      reason: "FieldValueForbidden",
      holds: (s) => s.variant === "pro" || (s.render.loras ?? []).every((l) => l.expert === undefined),
    },
    {
      rule: "self.variant == 'pro' || self.storyline.all(s, !has(s.loras) || s.loras.all(l, !has(l.expert)))",
      message:
        "a scene's LoRA names an expert, one of Wan 2.2's two, which only the pro variant has: remove it, and the LoRA is merged into the one transformer",
      fieldPath: ".storyline",
      reason: "FieldValueForbidden",
      holds: (s) =>
        s.variant === "pro" || s.storyline.every((scene) => (scene.loras ?? []).every((l) => l.expert === undefined)),
    },
    {
      rule: "!has(self.storyline[0].keyframe)",
      message:
        "the first scene starts from spec.referenceImage: set its image there; a keyframe starts a later scene's chain",
      fieldPath: ".storyline",
      reason: "FieldValueForbidden",
      holds: (s) => s.storyline[0]?.keyframe === undefined,
    },
    ...variantInputRules,
  ],
);

/** A LongVideo spec as written (defaults not yet applied). */
export type LongVideoSpecInput = z.input<typeof longVideoSpecSchema>;
/** A LongVideo spec with every default applied, as the API server stores it. */
export type LongVideoSpec = z.output<typeof longVideoSpecSchema>;
export type Scene = LongVideoSpec["storyline"][number];
export type RenderSettings = LongVideoSpec["render"];
/** An extra LoRA of the film or of a scene, strength defaulted. */
export type ExtraLora = NonNullable<RenderSettings["loras"]>[number];
export type GpuSettings = LongVideoSpec["gpu"];
export type StorageSettings = LongVideoSpec["storage"];
export type ReferenceImage = LongVideoSpec["referenceImage"];
/** A film's audio track: where it is and where in it the film starts. */
export type AudioSource = NonNullable<LongVideoSpec["audio"]>;
/** A dance film's skeleton video. */
export type PoseSource = NonNullable<LongVideoSpec["pose"]>;
/** Where an input file comes from (the reference image's, the audio's or the pose video's place). */
export type MediaSource = Pick<ReferenceImage, "configMap" | "pvc" | "url">;
