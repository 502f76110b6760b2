import { describe, expect, it } from "vitest";
import { operatorFilmPolicySchema } from "../api/film-policy.ts";
import { podTemplateKey } from "../reconcile/pod-template-key.ts";
import { referenceFetchPolicySchema } from "../api/reference-fetch-policy.ts";
import { longVideoSpecSchema } from "../api/long-video-spec.ts";
import { inputEnvNames, operatorEnvNames } from "../api/runtime-contract.ts";
import { filmIntent, inputsKey } from "../reconcile/film-intent.ts";
import type { FilmIntent } from "../reconcile/film-snapshot.ts";
import { concatJob, probeJob, segmentJob } from "./film-jobs.ts";

const film = { name: "bay", namespace: "films", uid: "u1" };
const runtime = {
  image: "registry.example/runtime:1",
  pullPolicy: "IfNotPresent",
  fetchPolicy: referenceFetchPolicySchema.parse({
    allowCidrs: ["10.20.0.5/32"],
    refuseCidrs: ["100.96.0.0/11", "fd00:10:96::/108"],
    timeoutSeconds: 12.5,
  }),
} as const;

function intentOf(spec: Record<string, unknown>): FilmIntent {
  const result = filmIntent(
    {
      name: "bay",
      namespace: "films",
      spec: {
        variant: "film",
        referenceImage: { configMap: { name: "refs", key: "bay.png" } },
        storyline: [{ prompt: "dawn over the bay", clips: 2 }],
        podMetadata: { labels: { team: "vfx" } },
        storage: { models: { claimName: "models" } },
        ...spec,
      },
    },
    {
      nodeSelector: {},
      tolerations: [],
      modelCacheClaim: "",
      checkModelCache: false,
      backend: "svi",
      policy: operatorFilmPolicySchema.parse({ podLabelPrefixes: [""] }),
    },
  );
  if (!result.ok) throw new Error(JSON.stringify(result));
  return result.intent;
}

interface JobJson {
  metadata: { labels: Record<string, string>; annotations: Record<string, string> };
  spec: {
    template: {
      spec: {
        volumes: { name: string; emptyDir?: { medium?: string; sizeLimit?: string } }[];
        containers: {
          args: string[];
          env: { name: string; value: string }[];
          resources: { requests: Record<string, string>; limits: Record<string, string> };
          volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
        }[];
      };
    };
  };
}
const container = (job: Record<string, unknown>) => {
  const [first] = (job as unknown as JobJson).spec.template.spec.containers;
  if (!first) throw new Error("no container");
  return first;
};
const envNames = (job: Record<string, unknown>) =>
  container(job)
    .env.map((e) => e.name)
    .sort();

describe("film jobs", () => {
  const intent = intentOf({});
  const [segment] = intent.segments;
  if (!segment) throw new Error("no segment");
  const segmentAction = {
    kind: "createSegmentJob",
    segment,
    attempt: 1,
    inputDigest: "",
    name: "bay-s0-x-a1",
    workspaceUid: "w1",
  } as const;

  it("bounds segment and concat jobs by the film's deadline", () => {
    const deadline = (job: Record<string, unknown>) =>
      (job as { spec: { activeDeadlineSeconds?: number } }).spec.activeDeadlineSeconds;
    expect(deadline(segmentJob(film, intent, segmentAction, runtime))).toBe(7200);
    expect(
      deadline(
        concatJob(
          film,
          intent,
          { kind: "createConcatJob", attempt: 0, inputDigest: "d9", name: "c", workspaceUid: "w1" },
          runtime,
        ),
      ),
    ).toBe(7200);
  });

  it("gives a segment pod exactly the runtime contract's segment variables", () => {
    expect(envNames(segmentJob(film, intent, segmentAction, runtime))).toEqual(operatorEnvNames("segment").sort());
  });

  it("gives a segment pod the operator's reference fetch policy, every field spelled out", () => {
    const env = container(segmentJob(film, intent, segmentAction, runtime)).env;
    const policy = env.find((e) => e.name === "LV_FETCH_POLICY")?.value ?? "";
    expect(policy).toBe(
      '{"allowCidrs":["10.20.0.5/32"],"refuseCidrs":["100.96.0.0/11","fd00:10:96::/108"],' +
        '"maxBytes":67108864,"timeoutSeconds":12.5}',
    );
  });

  it("gives a concat pod exactly the runtime contract's concat variables", () => {
    const job = concatJob(
      film,
      intent,
      { kind: "createConcatJob", attempt: 0, inputDigest: "d9", name: "bay-concat-x-a0", workspaceUid: "w1" },
      runtime,
    );
    expect(envNames(job)).toEqual(operatorEnvNames("concat").sort());
    expect(container(job).args).toEqual(["concat"]);
  });

  it("labels a job so the operator can read back what it renders, its own labels over the film's", () => {
    const job = segmentJob(film, intent, segmentAction, runtime) as unknown as JobJson;
    expect(job.metadata.labels).toEqual({
      team: "vfx",
      "app.kubernetes.io/managed-by": "longvideo-operator",
      "longvideo.dev/film": "bay",
      "longvideo.dev/kind": "segment",
      "longvideo.dev/segment": "0",
      "longvideo.dev/attempt": "1",
    });
    expect(job.metadata.annotations).toEqual({
      "longvideo.dev/hash": segment.hash,
      "longvideo.dev/input-digest": "",
      "longvideo.dev/workspace-uid": "w1",
      "longvideo.dev/memory-limit": intent.segmentResources.memory.limit,
      "longvideo.dev/pod-template": podTemplateKey(intent),
    });
  });

  it("sizes a segment pod by its variant and backend: requests, limits, GPUs and a memory-backed /dev/shm", () => {
    const job = segmentJob(film, intent, segmentAction, runtime);
    expect(container(job).resources).toEqual({
      requests: { cpu: "4", memory: "18Gi" },
      limits: { cpu: "16", memory: "72Gi", "nvidia.com/gpu": "1" },
    });
    expect(sharedMemory(job)).toEqual({ medium: "Memory", sizeLimit: "2Gi" });
    expect(container(job).volumeMounts.map((m) => m.mountPath)).toEqual(
      expect.arrayContaining(["/workspace", "/models", "/reference", "/tmp", "/dev/shm"]),
    );
    const pro = intentOf({ variant: "pro" });
    const proJob = segmentJob(film, pro, { ...segmentAction, segment: pro.segments[0] ?? segment }, runtime);
    expect(container(proJob).resources.requests).toEqual({ cpu: "4", memory: "44Gi" });
    expect(container(proJob).resources.limits).toMatchObject({ memory: "96Gi" });
  });

  it("gives a segment pod the film's resources as written", () => {
    const resources = {
      requests: { cpu: "6", memory: "20Gi" },
      limits: { cpu: "24", memory: "80Gi" },
      sharedMemory: "8Gi",
    };
    const job = segmentJob(film, intentOf({ resources }), segmentAction, runtime);
    expect(container(job).resources).toEqual({
      requests: resources.requests,
      limits: { ...resources.limits, "nvidia.com/gpu": "1" },
    });
    expect(sharedMemory(job)).toEqual({ medium: "Memory", sizeLimit: "8Gi" });
  });

  it("sizes a concatenation for a stream copy, which holds no GPU, mounts no models and needs no /dev/shm", () => {
    const cat = concatJob(
      film,
      intent,
      { kind: "createConcatJob", attempt: 0, inputDigest: "d9", name: "c", workspaceUid: "w1" },
      runtime,
    );
    expect(container(cat).resources).toEqual({
      requests: { cpu: "250m", memory: "256Mi" },
      limits: { cpu: "2", memory: "2Gi" },
    });
    expect(
      container(cat)
        .volumeMounts.map((m) => m.mountPath)
        .sort(),
    ).toEqual(["/tmp", "/workspace"]);
    expect(sharedMemory(cat)).toBeUndefined();
  });
});

/** The emptyDir mounted at /dev/shm, if any. */
function sharedMemory(job: Record<string, unknown>) {
  const pod = (job as unknown as JobJson).spec.template.spec;
  const mount = container(job).volumeMounts.find((m) => m.mountPath === "/dev/shm");
  return mount && pod.volumes.find((v) => v.name === mount.name)?.emptyDir;
}

describe("talk and dance jobs", () => {
  const policy = {
    nodeSelector: {},
    tolerations: [],
    modelCacheClaim: "",
    checkModelCache: false,
    backend: "svi" as const,
    policy: operatorFilmPolicySchema.parse({ podLabelPrefixes: [""] }),
  };
  const talk = {
    variant: "talk",
    referenceImage: { configMap: { name: "refs", key: "face.png" } },
    audio: { pvc: { claimName: "voices", path: "a/voice.flac" } },
    storyline: [{ prompt: "she speaks", clips: 2 }],
    storage: { models: { claimName: "models" } },
  };
  const volumes = (job: Record<string, unknown>) =>
    (job as unknown as { spec: { template: { spec: { volumes: Record<string, unknown>[] } } } }).spec.template.spec
      .volumes;

  it("probes with the inputs' volumes and variables, no workspace, no GPU", () => {
    const result = filmIntent({ name: "bay", namespace: "films", spec: talk }, policy);
    if (result.ok || result.reason !== "Probing") throw new Error(JSON.stringify(result));
    const job = probeJob(
      film,
      { kind: "createProbeJob", probe: result.probe, attempt: 0, name: "bay-probe-x-a0" },
      runtime,
    );
    expect(container(job).args).toEqual(["probe"]);
    expect(envNames(job)).toEqual(["LV_AUDIO", "LV_AUDIO_DIR", "LV_FETCH_POLICY", "LV_WORKSPACE"]);
    expect(
      container(job)
        .volumeMounts.map((m) => m.mountPath)
        .sort(),
    ).toEqual(["/inputs/audio", "/tmp"]);
    expect(volumes(job)).toContainEqual({
      name: "audio",
      persistentVolumeClaim: { claimName: "voices", readOnly: true },
    });
    expect((job as unknown as JobJson).metadata.labels["longvideo.dev/kind"]).toBe("probe");
    expect(container(job).resources.limits).not.toHaveProperty("nvidia.com/gpu");
  });

  it("checks an svi talk film's model cache in the same probe, the claim mounted read-only", () => {
    const result = filmIntent({ name: "bay", namespace: "films", spec: talk }, { ...policy, checkModelCache: true });
    if (result.ok || result.reason !== "Probing") throw new Error(JSON.stringify(result));
    const job = probeJob(
      film,
      { kind: "createProbeJob", probe: result.probe, attempt: 0, name: "bay-probe-x-a0" },
      runtime,
    );
    expect(envNames(job)).toEqual([
      "LV_AUDIO",
      "LV_AUDIO_DIR",
      "LV_CHECK_MODELS",
      "LV_FETCH_POLICY",
      "LV_MODELS_DIR",
      "LV_WORKSPACE",
    ]);
    const mounts = container(job).volumeMounts;
    expect(mounts.map((m) => m.mountPath).sort()).toEqual(["/inputs/audio", "/models", "/tmp"]);
    expect(mounts.find((m) => m.mountPath === "/models")?.readOnly).toBe(true);
    expect(volumes(job)).toContainEqual(
      expect.objectContaining({ persistentVolumeClaim: { claimName: "models", readOnly: true } }),
    );
    expect(container(job).resources.limits).not.toHaveProperty("nvidia.com/gpu");
  });

  it("mounts a talk segment's audio read-only and gives it the contract's input variables", () => {
    const spec = longVideoSpecSchema.parse(talk);
    const result = filmIntent(
      { name: "bay", namespace: "films", spec: talk, inputs: { key: inputsKey(spec), audioSeconds: 7 } },
      policy,
    );
    if (!result.ok) throw new Error(JSON.stringify(result));
    const [segment] = result.intent.segments;
    if (!segment) throw new Error("no segment");
    const job = segmentJob(
      film,
      result.intent,
      { kind: "createSegmentJob", segment, attempt: 0, inputDigest: "", name: "bay-s0-x-a0", workspaceUid: "w1" },
      runtime,
    );
    const talkInputs = inputEnvNames("segment").filter((n) => n.startsWith("LV_AUDIO"));
    expect(envNames(job)).toEqual([...operatorEnvNames("segment"), ...talkInputs].sort());
    expect(container(job).volumeMounts).toContainEqual(expect.objectContaining({ mountPath: "/inputs/audio" }));
    const concat = concatJob(
      film,
      result.intent,
      { kind: "createConcatJob", attempt: 0, inputDigest: "d9", name: "bay-concat-x-a0", workspaceUid: "w1" },
      runtime,
    );
    expect(envNames(concat)).toEqual([...operatorEnvNames("concat"), ...inputEnvNames("concat")].sort());
    expect(container(concat).volumeMounts).toContainEqual(expect.objectContaining({ mountPath: "/inputs/audio" }));
  });
});
