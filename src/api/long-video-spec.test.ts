import { describe, expect, it } from "vitest";
import { fieldErrorLine, fieldPath, invalidObjectMessage } from "./field-errors.ts";
import { longVideoSpecVerdict, longVideoVerdict } from "./long-video.ts";
import { longVideoSpecSchema } from "./long-video-spec.ts";

const talkAudio = { url: "https://example.com/voice.wav" };
const dancePose = { pvc: { claimName: "poses", path: "skeleton.mp4" } };

const minimal = {
  referenceImage: { url: "https://example.com/still.png" },
  storyline: [{ prompt: "a lighthouse at dawn", clips: 2 }],
  storage: { models: { claimName: "svi-models" } },
};

/** `minimal` with `patch` merged in, one level deep per key. */
function with_(patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...minimal };
  for (const [key, value] of Object.entries(patch)) {
    const base = out[key];
    out[key] =
      typeof value === "object" && value !== null && !Array.isArray(value) && typeof base === "object" && base
        ? { ...base, ...value }
        : value;
  }
  return out;
}

describe("LongVideo spec defaults", () => {
  it("fills in everything Kubernetes defaults, and nothing that depends on the variant", () => {
    expect(longVideoSpecSchema.parse(minimal)).toEqual({
      variant: "film",
      referenceImage: { url: "https://example.com/still.png" },
      storyline: [{ prompt: "a lighthouse at dawn", clips: 2 }],
      render: {
        resolution: {},
        framesPerClip: 81,
        steps: 50,
        seed: 42,
        parallelism: 1,
        warmStart: true,
      },
      gpu: { count: 1, resourceName: "nvidia.com/gpu" },
      storage: {
        workspace: { size: "20Gi", accessMode: "ReadWriteOnce", whenDeleted: "Delete" },
        models: { claimName: "svi-models" },
      },
      output: { path: "film.mp4" },
      retry: { limit: 3, backoff: { initialSeconds: 10, maxSeconds: 600 } },
      suspend: false,
    });
  });

  it("fills nested defaults inside objects that are partly given", () => {
    const spec = longVideoSpecSchema.parse(with_({ render: { resolution: { width: 480 }, fps: 24 } }));
    expect(spec.render).toMatchObject({ resolution: { width: 480 }, fps: 24, framesPerClip: 81 });
  });
});

describe("LongVideo spec validation", () => {
  const valid: [string, Record<string, unknown>][] = [
    ["the minimal spec", minimal],
    ["a pvc image", { ...minimal, referenceImage: { pvc: { claimName: "stills", path: "a/b.png" } } }],
    ["a shot", with_({ variant: "shot" })],
    [
      "keyframed scenes rendered four at once",
      with_({
        render: { parallelism: 4 },
        storyline: [
          { prompt: "a", clips: 2 },
          { prompt: "b", clips: 2, keyframe: { pvc: { claimName: "keys", path: "b.png" } } },
          { prompt: "c", clips: 2, keyframe: { url: "https://example.com/c.png" } },
        ],
      }),
    ],
    [
      "talk with scenes whose length the audio decides",
      with_({ variant: "talk", audio: talkAudio, storyline: [{ prompt: "x" }, { prompt: "y", clips: 2 }] }),
    ],
    [
      "talk at 640x368 and 25 fps",
      with_({
        variant: "talk",
        audio: { ...talkAudio, offsetSeconds: 1.5 },
        render: { resolution: { width: 640, height: 368 }, fps: 25 },
      }),
    ],
    [
      "talk with a portrait frame up to 640 wide",
      with_({
        variant: "talk",
        audio: { configMap: { name: "voice", key: "v.wav" } },
        render: { resolution: { width: 480, height: 832 } },
      }),
    ],
    [
      "dance with a music track",
      with_({ variant: "dance", pose: dancePose, audio: { pvc: { claimName: "music", path: "a/b.mp3" } } }),
    ],
    [
      "dance at 24 fps",
      with_({ variant: "dance", pose: { url: "https://example.com/pose.mp4" }, render: { fps: 24 } }),
    ],
    [
      "a talk-sized height with the narrow default width",
      with_({ variant: "talk", audio: talkAudio, render: { resolution: { height: 1280 } } }),
    ],
    ["pro with 2 latent motion frames", with_({ variant: "pro", render: { motionFrames: 2 } })],
    ["an animatic without a model cache", { ...minimal, storage: {}, render: { backend: "animatic" } }],
    // The operator's model cache (a Helm value) may serve it; the operator says so when it does not.
    ["svi without a model cache of its own", { ...minimal, storage: {} }],
    ["no backend named (the operator's default)", { ...minimal, render: {} }],
    ["a film of 64 scenes", with_({ storyline: Array.from({ length: 64 }, () => ({ prompt: "x", seconds: 1.5 })) })],
    [
      "a tolerate-everything toleration",
      with_({ gpu: { tolerations: [{ operator: "Exists" }], nodeSelector: { "longvideo.dev/pool": "h100" } } }),
    ],
    ["pod labels", with_({ podMetadata: { labels: { team: "a", "example.com/tier": "" } } })],
    [
      "a NoExecute toleration held for a minute",
      with_({ gpu: { tolerations: [{ key: "k", operator: "Exists", effect: "NoExecute", tolerationSeconds: 60 }] } }),
    ],
    [
      "node affinity by In, Exists and Gt",
      with_({
        gpu: {
          affinity: {
            nodeAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: {
                nodeSelectorTerms: [
                  {
                    matchExpressions: [
                      { key: "pool", operator: "In", values: ["h100"] },
                      { key: "gpu", operator: "Exists" },
                      { key: "gpu-memory-gib", operator: "Gt", values: ["40"] },
                    ],
                  },
                ],
              },
            },
          },
        },
      }),
    ],
    ["an AMD GPU resource", with_({ gpu: { resourceName: "amd.com/gpu" } })],

    ["a fractional size", with_({ storage: { workspace: { size: "1.5Gi" } } })],
    [
      "every resource set, requests equal to limits",
      with_({
        resources: {
          requests: { cpu: "8", memory: "80Gi" },
          limits: { cpu: "8000m", memory: "80Gi" },
          sharedMemory: "80Gi",
        },
      }),
    ],
    ["a CPU request alone, above the default limit", with_({ resources: { requests: { cpu: "32" } } })],
    ["a memory limit alone, below the default request", with_({ resources: { limits: { memory: "8Gi" } } })],
    ["/dev/shm alone", with_({ resources: { sharedMemory: "512Mi" } })],
    [
      "pro with a distilled LoRA on one expert and per-scene settings",
      with_({
        variant: "pro",
        render: {
          guidanceScale: 1,
          steps: 4,
          negativePrompt: "blur",
          loras: [{ path: "loras/lightx2v.safetensors", strength: 0.5, expert: "highNoise" }],
        },
        storyline: [{ prompt: "x", clips: 1, seed: 0, steps: 8, guidanceScale: 3.5, negativePrompt: "", loras: [] }],
      }),
    ],
    [
      "a request in millicores below a limit in cores",
      with_({ resources: { requests: { cpu: "1500m" }, limits: { cpu: "2" } } }),
    ],
  ];
  it.each(valid)("accepts %s", (_, spec) => {
    const verdict = longVideoSpecVerdict(spec);
    expect(verdict.ok ? [] : verdict.errors.map(fieldErrorLine)).toEqual([]);
  });

  const invalid: [string, Record<string, unknown>, string, RegExp][] = [
    ["no image source", { ...minimal, referenceImage: {} }, "spec.referenceImage", /exactly one image source/],
    [
      "two image sources",
      with_({ referenceImage: { url: "https://a.b/c.png", configMap: { name: "a", key: "b" } } }),
      "spec.referenceImage",
      /exactly one image source/,
    ],
    [
      "both clips and seconds",
      with_({ storyline: [{ prompt: "x", clips: 1, seconds: 2 }] }),
      "spec.storyline[0]",
      /exactly one of clips or seconds/,
    ],
    [
      "neither clips nor seconds outside talk",
      with_({ storyline: [{ prompt: "x" }] }),
      "spec.storyline",
      /set clips or seconds for each scene: only a talk film/,
    ],
    [
      "a NoSchedule toleration with tolerationSeconds",
      with_({ gpu: { tolerations: [{ key: "k", operator: "Exists", effect: "NoSchedule", tolerationSeconds: 30 }] } }),
      "spec.gpu.tolerations[0].tolerationSeconds",
      /only to effect NoExecute/,
    ],
    [
      "a node affinity In without values",
      with_({ gpu: { affinity: nodeAffinityWith({ key: "k", operator: "In" }) } }),
      "spec.gpu.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values",
      /need at least one value/,
    ],
    [
      "a node affinity Exists with values",
      with_({ gpu: { affinity: nodeAffinityWith({ key: "k", operator: "Exists", values: ["v"] }) } }),
      "spec.gpu.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values",
      /take no values/,
    ],
    [
      "a node affinity Gt with a word",
      with_({ gpu: { affinity: nodeAffinityWith({ key: "k", operator: "Gt", values: ["many"] }) } }),
      "spec.gpu.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values",
      /exactly one integer value/,
    ],
    [
      "a pod anti-affinity NotIn without values",
      with_({
        gpu: {
          affinity: {
            podAntiAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: [
                {
                  topologyKey: "kubernetes.io/hostname",
                  labelSelector: { matchExpressions: [{ key: "app", operator: "NotIn" }] },
                },
              ],
            },
          },
        },
      }),
      "spec.gpu.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchExpressions[0].values",
      /need at least one value/,
    ],
    [
      "an affinity namespace that is not a name",
      with_({
        gpu: {
          affinity: {
            podAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: [
                { topologyKey: "kubernetes.io/hostname", namespaces: ["Bad_NS"] },
              ],
            },
          },
        },
      }),
      "spec.gpu.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].namespaces[0]",
      /should match/,
    ],
    [
      "cpu counted as GPUs",
      with_({ gpu: { resourceName: "cpu" } }),
      "spec.gpu.resourceName",
      /must be an extended resource/,
    ],
    [
      "a kubernetes.io resource counted as GPUs",
      with_({ gpu: { resourceName: "kubernetes.io/batteries" } }),
      "spec.gpu.resourceName",
      /must be an extended resource/,
    ],
    ["an empty storyline", with_({ storyline: [] }), "spec.storyline", /at least 1 items/],
    ["a blank prompt", with_({ storyline: [{ prompt: "  ", clips: 1 }] }), "spec.storyline[0].prompt", /should match/],
    ["80 frames per clip", with_({ render: { framesPerClip: 80 } }), "spec.render.framesPerClip", /4n\+1/],
    [
      "125 frames per clip",
      with_({ render: { framesPerClip: 125 } }),
      "spec.render.framesPerClip",
      /less than or equal to 121/,
    ],
    [
      "motion frames >= frames per clip",
      with_({ render: { framesPerClip: 17, motionFrames: 17 } }),
      "spec.render.motionFrames",
      /fewer than framesPerClip/,
    ],
    [
      "pro overlap too long",
      with_({ variant: "pro", render: { framesPerClip: 17, motionFrames: 4 } }),
      "spec.render.motionFrames",
      /4 \* motionFrames \+ 1/,
    ],
    [
      "a shot of two scenes",
      with_({
        variant: "shot",
        storyline: [
          { prompt: "a", clips: 1 },
          { prompt: "b", clips: 1 },
        ],
      }),
      "spec.storyline",
      /single scene/,
    ],
    [
      "a width that is no multiple of 16",
      with_({ render: { resolution: { width: 500 } } }),
      "spec.render.resolution.width",
      /multiple of 16/,
    ],
    [
      "too many pixels",
      with_({ render: { resolution: { width: 1280, height: 1280 } } }),
      "spec.render.resolution",
      /921600/,
    ],
    ["a zero seed multiplier", with_({ render: { seed: 0 } }), "spec.render.seed", /greater than or equal to 1/],
    [
      "an unknown backend",
      with_({ render: { backend: "sora" } }),
      "spec.render.backend",
      /supported values: "svi", "animatic"/,
    ],
    ["an unknown variant", with_({ variant: "sing" }), "spec.variant", /supported values/],
    ["talk without audio", with_({ variant: "talk" }), "spec.audio", /talk films speak or sing an audio track/],
    [
      "talk wider than 640",
      with_({ variant: "talk", audio: talkAudio, render: { resolution: { width: 832 } } }),
      "spec.render.resolution.width",
      /talk and dance render at most 640 pixels wide/,
    ],
    [
      "dance wider than 640",
      with_({ variant: "dance", pose: dancePose, render: { resolution: { width: 656, height: 368 } } }),
      "spec.render.resolution.width",
      /talk and dance render at most 640 pixels wide/,
    ],
    [
      "talk at 16 fps",
      with_({ variant: "talk", audio: talkAudio, render: { fps: 16 } }),
      "spec.render.fps",
      /talk renders at 25 fps/,
    ],
    ["dance without pose", with_({ variant: "dance" }), "spec.pose", /dance films follow a skeleton video/],
    ["a pose on a film", with_({ pose: dancePose }), "spec.pose", /pose is read by the dance variant only/],
    ["audio on a film", with_({ audio: talkAudio }), "spec.audio", /audio is read by talk .* and dance/],
    [
      "audio with two sources",
      with_({ variant: "talk", audio: { url: "https://a.b/v.wav", pvc: { claimName: "a", path: "v.wav" } } }),
      "spec.audio",
      /exactly one audio source/,
    ],
    ["pose with no source", with_({ variant: "dance", pose: {} }), "spec.pose", /exactly one pose source/],
    [
      "a negative audio offset",
      with_({ variant: "talk", audio: { ...talkAudio, offsetSeconds: -1 } }),
      "spec.audio.offsetSeconds",
      /greater than or equal to 0/,
    ],
    [
      "a dance scene without a length",
      with_({ variant: "dance", pose: dancePose, storyline: [{ prompt: "x" }] }),
      "spec.storyline",
      /only a talk film may leave scene lengths/,
    ],
    [
      "a height that overflows the pixel budget with the default width",
      with_({ render: { resolution: { height: 1280 } } }),
      "spec.render.resolution",
      /at most 921600 pixels/,
    ],
    [
      "a label key with a space",
      with_({ podMetadata: { labels: { "bad key": "x" } } }),
      "spec.podMetadata.labels.bad key",
      /should match/,
    ],
    [
      "a reserved label",
      with_({ podMetadata: { labels: { "longvideo.dev/film": "x" } } }),
      "spec.podMetadata.labels",
      /set by the operator/,
    ],
    [
      "a label value of 64 characters",
      with_({ podMetadata: { labels: { a: "x".repeat(64) } } }),
      "spec.podMetadata.labels.a",
      /Too long/,
    ],
    [
      "an Exists toleration with a value",
      with_({ gpu: { tolerations: [{ key: "k", operator: "Exists", value: "v" }] } }),
      "spec.gpu.tolerations[0].value",
      /takes no value/,
    ],
    [
      "a keyless Equal toleration",
      with_({ gpu: { tolerations: [{ value: "v" }] } }),
      "spec.gpu.tolerations[0].operator",
      /without a key/,
    ],
    ["nine GPUs", with_({ gpu: { count: 9 } }), "spec.gpu.count", /less than or equal to 8/],
    ["three GPUs", with_({ gpu: { count: 3 } }), "spec.gpu.count", /split Wan 14B's 40 attention heads/],
    [
      "talk on two GPUs",
      with_({ variant: "talk", audio: talkAudio, gpu: { count: 2 } }),
      "spec.gpu.count",
      /talk renders on one GPU/,
    ],
    [
      "a size that is no quantity",
      with_({ storage: { workspace: { size: "lots" } } }),
      "spec.storage.workspace.size",
      /should match/,
    ],
    [
      "a size below 1Gi",
      with_({ storage: { workspace: { size: "512Mi" } } }),
      "spec.storage.workspace.size",
      /from 1Gi to 64Ti/,
    ],
    [
      "an absolute image path",
      { ...minimal, referenceImage: { pvc: { claimName: "a", path: "/etc/passwd" } } },
      "spec.referenceImage.pvc.path",
      /should match/,
    ],
    [
      "a path escaping the volume",
      { ...minimal, referenceImage: { pvc: { claimName: "a", path: "a/../../b" } } },
      "spec.referenceImage.pvc.path",
      /should match/,
    ],
    ["an output that is no mp4", with_({ output: { path: "film.avi" } }), "spec.output.path", /should match/],
    [
      "backoff that shrinks",
      with_({ retry: { backoff: { initialSeconds: 60, maxSeconds: 30 } } }),
      "spec.retry.backoff.initialSeconds",
      /must not exceed/,
    ],
    ["an unknown field", with_({ render: { colour: "red" } }), "spec.render.colour", /unknown field/],
    [
      "a CPU request above its limit",
      with_({ resources: { requests: { cpu: "8" }, limits: { cpu: "7500m" } } }),
      "spec.resources.requests.cpu",
      /must be less than or equal to resources.limits.cpu/,
    ],
    [
      "a memory request above its limit",
      with_({ resources: { requests: { memory: "1.5Ti" }, limits: { memory: "1Ti" } } }),
      "spec.resources.requests.memory",
      /must be less than or equal to resources.limits.memory/,
    ],
    [
      "a /dev/shm larger than the memory limit",
      with_({ resources: { limits: { memory: "16Gi" }, sharedMemory: "17Gi" } }),
      "spec.resources.sharedMemory",
      /must be less than or equal to resources.limits.memory/,
    ],
    [
      "a CPU amount that is no quantity",
      with_({ resources: { requests: { cpu: "four" } } }),
      "spec.resources.requests.cpu",
      /should match/,
    ],
    [
      "a CPU amount in bytes",
      with_({ resources: { limits: { cpu: "2Gi" } } }),
      "spec.resources.limits.cpu",
      /should match/,
    ],
    [
      "a CPU request below 100m",
      with_({ resources: { requests: { cpu: "10m" } } }),
      "spec.resources.requests.cpu",
      /from 100m to 512 cores/,
    ],
    [
      "a memory limit that is no quantity",
      with_({ resources: { limits: { memory: "72 GiB" } } }),
      "spec.resources.limits.memory",
      /should match/,
    ],
    [
      "a memory request below 64Mi",
      with_({ resources: { requests: { memory: "32Mi" } } }),
      "spec.resources.requests.memory",
      /from 64Mi to 4Ti/,
    ],
    [
      "a LoRA that is no safetensors file",
      with_({ render: { loras: [{ path: "loras/style.ckpt" }] } }),
      "spec.render.loras[0].path",
      /should match/,
    ],
    [
      "a LoRA path out of the cache",
      with_({ render: { loras: [{ path: "../style.safetensors" }] } }),
      "spec.render.loras[0].path",
      /should match/,
    ],
    [
      "a LoRA at strength 5",
      with_({ render: { loras: [{ path: "a.safetensors", strength: 5 }] } }),
      "spec.render.loras[0].strength",
      /less than or equal to 4/,
    ],
    [
      "nine LoRAs",
      with_({ render: { loras: Array.from({ length: 9 }, (_, i) => ({ path: `l${String(i)}.safetensors` })) } }),
      "spec.render.loras",
      /at most 8 items/,
    ],
    [
      "an expert on a film",
      with_({ render: { loras: [{ path: "a.safetensors", expert: "lowNoise" }] } }),
      "spec.render.loras",
      /which only the pro variant has/,
    ],
    [
      "an expert on a film's scene",
      with_({ storyline: [{ prompt: "x", clips: 1, loras: [{ path: "a.safetensors", expert: "highNoise" }] }] }),
      "spec.storyline",
      /which only the pro variant has/,
    ],
    [
      "a scene with no steps",
      with_({ storyline: [{ prompt: "x", clips: 1, steps: 0 }] }),
      "spec.storyline[0].steps",
      /greater than or equal to 1/,
    ],
    [
      "a scene guided below 1",
      with_({ storyline: [{ prompt: "x", clips: 1, guidanceScale: 0.5 }] }),
      "spec.storyline[0].guidanceScale",
      /greater than or equal to 1/,
    ],
    [
      "a keyframe on the first scene",
      with_({ storyline: [{ prompt: "x", clips: 1, keyframe: { url: "https://example.com/k.png" } }] }),
      "spec.storyline",
      /the first scene starts from spec.referenceImage/,
    ],
    [
      "a keyframe from two places",
      with_({
        storyline: [
          { prompt: "x", clips: 1 },
          {
            prompt: "y",
            clips: 1,
            keyframe: { url: "https://example.com/k.png", configMap: { name: "keys", key: "k.png" } },
          },
        ],
      }),
      "spec.storyline[1].keyframe",
      /set exactly one keyframe source/,
    ],
    [
      "a parallelism of 0",
      with_({ render: { parallelism: 0 } }),
      "spec.render.parallelism",
      /greater than or equal to 1/,
    ],
    [
      "a parallelism of 17",
      with_({ render: { parallelism: 17 } }),
      "spec.render.parallelism",
      /less than or equal to 16/,
    ],
    [
      "an unknown resource",
      with_({ resources: { requests: { "nvidia.com/gpu": "1" } } }),
      "spec.resources.requests.nvidia.com/gpu",
      /unknown field/,
    ],
  ];
  it.each(invalid)("rejects %s at %s", (_, spec, field, detail) => {
    const verdict = longVideoSpecVerdict(spec);
    expect(verdict.ok).toBe(false);
    if (verdict.ok) return;
    const error = verdict.errors.find((e) => e.field === field);
    expect(error, verdict.errors.map(fieldErrorLine).join("\n")).toBeDefined();
    expect(error && fieldErrorLine(error)).toMatch(detail);
  });
});

describe("field errors", () => {
  it("writes paths the way the API server does", () => {
    expect(fieldPath(["spec", "storyline", 3, "prompt"])).toBe("spec.storyline[3].prompt");
    expect(fieldPath(["spec", "podMetadata", "labels", "example.com/tier"])).toBe(
      "spec.podMetadata.labels.example.com/tier",
    );
  });

  it("phrases a whole rejection like kubectl", () => {
    const verdict = longVideoVerdict({
      apiVersion: "longvideo.dev/v1alpha1",
      kind: "LongVideo",
      metadata: { name: "x" },
      spec: with_({ variant: "sing", render: { fps: 61 } }),
    });
    expect(verdict.ok).toBe(false);
    if (verdict.ok) return;
    expect(invalidObjectMessage("LongVideo", "x", verdict.errors)).toBe(
      [
        'The LongVideo "x" is invalid: ',
        '* spec.variant: Unsupported value: "sing": supported values: "shot", "film", "pro", "talk", "dance"',
        "* spec.render.fps: Invalid value: 61: spec.render.fps in body should be less than or equal to 60",
      ].join("\n"),
    );
  });

  it("rejects names that cannot be label values", () => {
    const verdict = longVideoVerdict({
      apiVersion: "longvideo.dev/v1alpha1",
      kind: "LongVideo",
      metadata: { name: "x".repeat(64) },
      spec: minimal,
    });
    expect(verdict.ok ? [] : verdict.errors.map((e) => e.field)).toEqual(["metadata.name"]);
  });
});

/** An affinity whose one required node selector term has this one requirement. */
function nodeAffinityWith(requirement: Record<string, unknown>): Record<string, unknown> {
  return {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [requirement] }] },
    },
  };
}
