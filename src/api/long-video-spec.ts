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
import {
  configMapKey,
  dnsSubdomain,
  httpUrl,
  labelValue,
  nonBlankPattern,
  qualifiedName,
  relativeMp4Path,
  relativePath,
  qualifiedNameMap,
} from "./kubernetes-formats.ts";
import { affinitySchema, tolerationSchema } from "./pod-scheduling.ts";
import { reservedLabelPrefixes, reservedLabels } from "./operator-labels.ts";
import { compareQuantities, cpuQuantity, storageSize } from "./quantity.ts";
import { clipFrames, defaultSeedMultiplier, framesPerLatent, variantProfiles, variants } from "./variant-profiles.ts";

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

const referenceImageSchema = celValidated(
  z
    .strictObject({
      configMap: z
        .strictObject({
          name: dnsSubdomain.meta({ description: "ConfigMap in the LongVideo's namespace." }),
          key: configMapKey.meta({ description: "Key in the ConfigMap's binaryData (or data) holding the image." }),
        })
        .exactOptional()
        .meta({ description: "The image stored in a ConfigMap (up to 1 MiB)." }),
      pvc: z
        .strictObject({
          claimName: dnsSubdomain.meta({ description: "PersistentVolumeClaim in the LongVideo's namespace." }),
          path: relativePath.meta({ description: "Path of the image inside the volume." }),
        })
        .exactOptional()
        .meta({ description: "The image on a PersistentVolumeClaim." }),
      url: httpUrl
        .exactOptional()
        .meta({ description: "An http(s) URL the image is fetched from once, before rendering." }),
    })
    .meta({ description: "The first frame of the film. Exactly one of configMap, pvc or url." }),
  [
    {
      rule: "(has(self.configMap) ? 1 : 0) + (has(self.pvc) ? 1 : 0) + (has(self.url) ? 1 : 0) == 1",
      message: "set exactly one image source: configMap, pvc or url",
      holds: (r) => [r.configMap, r.pvc, r.url].filter((s) => s !== undefined).length === 1,
    },
  ],
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
      clips: z
        .int()
        .min(1)
        .max(specLimits.clipsPerScene)
        .exactOptional()
        .meta({ description: "Length of the scene in clips. Exactly one of clips or seconds." }),
      seconds: z.number().gt(0).max(specLimits.secondsPerScene).exactOptional().meta({
        description:
          "Length of the scene in seconds of film; rounded up to whole clips, never short. Exactly one of clips or seconds.",
      }),
    })
    .meta({ description: "One scene of the storyline: a prompt and a length." }),
  [
    {
      rule: "has(self.clips) != has(self.seconds)",
      message: "set exactly one of clips or seconds for each scene",
      holds: (s) => (s.clips === undefined) !== (s.seconds === undefined),
    },
  ],
);

const resolutionSchema = celValidated(
  z
    .strictObject({
      width: z.int().min(256).max(1280).multipleOf(16).default(832).meta({ description: "Width in pixels." }),
      height: z.int().min(256).max(1280).multipleOf(16).default(480).meta({ description: "Height in pixels." }),
    })
    .meta({ description: "Frame size; multiples of 16. SVI is trained at 480x832 (landscape) and 832x480." }),
  [
    {
      rule: "self.width * self.height <= 921600",
      message: "at most 921600 pixels per frame (1280x720): the base model renders 480p to 720p",
      holds: (r) => r.width * r.height <= 921_600,
    },
  ],
);

const renderSchema = celValidated(
  z
    .strictObject({
      resolution: resolutionSchema.prefault({}),
      fps: z
        .int()
        .min(1)
        .max(60)
        .default(16)
        .meta({ description: "Frames per second of the film; SVI's scripts use 16, 24 or 25." }),
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
        .meta({ description: "Text classifier-free guidance; defaults to the variant's (5.0)." }),
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
        "pro 4/16 CPU, 44Gi/96Gi, 2Gi; animatic 500m/2 CPU, 512Mi/2Gi, 64Mi. An unset limit is raised to a " +
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

/** The `spec` of a LongVideo. */
export const longVideoSpecSchema = celValidated(
  z
    .strictObject({
      variant: z.enum(variants).default("film").meta({
        description: "SVI variant: shot (one prompt), film (a prompt per scene) or pro (Wan 2.2, latent hand-off).",
      }),
      referenceImage: referenceImageSchema,
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
  ],
);

/** A LongVideo spec as written (defaults not yet applied). */
export type LongVideoSpecInput = z.input<typeof longVideoSpecSchema>;
/** A LongVideo spec with every default applied, as the API server stores it. */
export type LongVideoSpec = z.output<typeof longVideoSpecSchema>;
export type Scene = LongVideoSpec["storyline"][number];
export type RenderSettings = LongVideoSpec["render"];
export type GpuSettings = LongVideoSpec["gpu"];
export type StorageSettings = LongVideoSpec["storage"];
export type ReferenceImage = LongVideoSpec["referenceImage"];
