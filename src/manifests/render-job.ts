/**
 * The Jobs the operator creates for a film (one per segment attempt, and the concatenation), built with
 * cdk8s-plus-28 and finished with JSON patches for what that library does not model (extended GPU resources,
 * raw affinity, pod failure policy, Kueue suspension) or would rewrite (CPU and memory quantities, which it takes
 * as numbers and writes in its own units, and the size of `/dev/shm`: the film's quantities are passed as written).
 */
import { ApiObject, App, Chart, Duration, JsonPatch } from "cdk8s";
import * as kplus from "cdk8s-plus-28";
import { exitCodes, mountPaths } from "../api/runtime-contract.ts";
import type { RequestAndLimit } from "../api/segment-resources.ts";
import type { GpuPlacement, InputVolumes, ReferenceVolume } from "../reconcile/film-snapshot.ts";
import type { OwnerReference } from "./film-owner.ts";

export interface RenderJobInput {
  readonly name: string;
  readonly namespace: string;
  readonly owner: OwnerReference;
  /** Labels on the Job and its pods (the operator's selectors plus the film's podMetadata labels). */
  readonly labels: Readonly<Record<string, string>>;
  readonly jobAnnotations: Readonly<Record<string, string>>;
  readonly podAnnotations: Readonly<Record<string, string>>;
  readonly image: string;
  readonly imagePullPolicy: "Always" | "IfNotPresent" | "Never";
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly placement?: GpuPlacement;
  /** The film's workspace claim; the probe, which keeps nothing, mounts none. */
  readonly workspaceClaim?: string;
  readonly modelsClaim?: string;
  /** The reference image's volume, mounted read-only at the contract's reference mount path. */
  readonly reference?: ReferenceVolume;
  /** The audio's and the skeleton video's volumes, mounted read-only at their contract mount paths. */
  readonly inputVolumes?: InputVolumes;
  readonly activeDeadlineSeconds?: number;
  /** CPU, as Kubernetes quantities (`500m`, `4`). */
  readonly cpu: RequestAndLimit;
  /** Memory, as Kubernetes quantities (`18Gi`). */
  readonly memory: RequestAndLimit;
  /** Size of a memory-backed emptyDir mounted at /dev/shm; the container runtime's small default when absent. */
  readonly sharedMemory?: string;
}

/** Where the memory-backed shared memory volume is mounted: POSIX shared memory, as PyTorch and NCCL use it. */
export const sharedMemoryPath = "/dev/shm";

/** The runtime image's non-root user. */
const runtimeUser = 1000;

/** A Job manifest (plain JSON) for one render step of a film. */
export function renderJob(input: RenderJobInput): Record<string, unknown> {
  const app = new App();
  const chart = new Chart(app, "film", { namespace: input.namespace, disableResourceNameHashes: true });
  const job = new kplus.Job(chart, "job", {
    metadata: { name: input.name, labels: { ...input.labels }, annotations: { ...input.jobAnnotations } },
    podMetadata: { labels: { ...input.labels }, annotations: { ...input.podAnnotations } },
    // The operator owns retries (with its own backoff and a durable record); the Job runs exactly one pod.
    backoffLimit: 0,
    ttlAfterFinished: Duration.days(7),
    ...(input.activeDeadlineSeconds ? { activeDeadline: Duration.seconds(input.activeDeadlineSeconds) } : {}),
    restartPolicy: kplus.RestartPolicy.NEVER,
    automountServiceAccountToken: false,
    securityContext: { ensureNonRoot: true, user: runtimeUser, group: runtimeUser, fsGroup: runtimeUser },
  });
  mountVolumes(chart, renderContainer(chart, job, input), input);
  ApiObject.of(job).metadata.addOwnerReference({ ...input.owner, controller: true, blockOwnerDeletion: true });
  if (input.placement?.queueName) {
    ApiObject.of(job).metadata.addLabel("kueue.x-k8s.io/queue-name", input.placement.queueName);
  }
  const [synthesized] = chart.toJson() as Record<string, unknown>[];
  if (!synthesized) throw new Error("the job chart produced no manifest");
  const patches = [
    ...hardeningPatches,
    ...resourcePatches(input),
    ...(input.placement ? placementPatches(input.placement) : []),
  ];
  return JsonPatch.apply(synthesized, ...patches) as Record<string, unknown>;
}

function renderContainer(chart: Chart, job: kplus.Job, input: RenderJobInput): kplus.Container {
  const workspace =
    input.workspaceClaim === undefined
      ? undefined
      : kplus.Volume.fromPersistentVolumeClaim(
          chart,
          "workspace",
          kplus.PersistentVolumeClaim.fromClaimName(chart, "workspace-claim", input.workspaceClaim),
        );
  return job.addContainer({
    name: "render",
    image: input.image,
    imagePullPolicy: kplus.ImagePullPolicy[pullPolicyKey(input.imagePullPolicy)],
    args: [...input.args],
    envVariables: Object.fromEntries(Object.entries(input.env).map(([k, v]) => [k, kplus.EnvValue.fromValue(v)])),
    securityContext: {
      ensureNonRoot: true,
      user: runtimeUser,
      group: runtimeUser,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      privileged: false,
    },
    // Set by resourcePatches; an empty object keeps cdk8s-plus from writing its own defaults.
    resources: {},
    volumeMounts: workspace ? [{ path: mountPaths.workspace, volume: workspace }] : [],
  });
}

/** The model cache and the reference image (read-only, when the film has them) and a scratch directory. */
function mountVolumes(chart: Chart, container: kplus.Container, input: RenderJobInput): void {
  if (input.modelsClaim) {
    const claim = kplus.PersistentVolumeClaim.fromClaimName(chart, "models-claim", input.modelsClaim);
    const models = kplus.Volume.fromPersistentVolumeClaim(chart, "models", claim, { readOnly: true });
    container.mount(mountPaths.models, models, { readOnly: true });
  }
  if (input.reference) {
    container.mount(mountPaths.reference, referenceVolume(chart, input.reference), { readOnly: true });
  }
  // The same source may serve two inputs (one config map holding the audio and the pose): each gets its own volume.
  for (const kind of ["audio", "pose"] as const) {
    const volume = input.inputVolumes?.[kind];
    if (volume) container.mount(mountPaths[kind], referenceVolume(chart, volume, kind), { readOnly: true });
  }
  // The root filesystem is read-only and PyTorch, ffmpeg and Python want a writable /tmp.
  container.mount(mountPaths.scratch, kplus.Volume.fromEmptyDir(chart, "tmp", "tmp"));
}

/** A read-only volume named `name` (the reference image's, the audio's or the skeleton video's). */
function referenceVolume(chart: Chart, source: ReferenceVolume, name = "reference"): kplus.Volume {
  if (source.kind === "configMap") {
    const map = kplus.ConfigMap.fromConfigMapName(chart, `${name}-map`, source.name);
    return kplus.Volume.fromConfigMap(chart, name, map, { name });
  }
  const claim = kplus.PersistentVolumeClaim.fromClaimName(chart, `${name}-claim`, source.claimName);
  return kplus.Volume.fromPersistentVolumeClaim(chart, name, claim, { name, readOnly: true });
}

// Patched after synthesis: the generated KubeJob serializer drops fields it does not model, such as a quantity
// for an extended resource.
const podSpec = "/spec/template/spec";

const hardeningPatches = [
  JsonPatch.add(`${podSpec}/securityContext/seccompProfile`, { type: "RuntimeDefault" }),
  JsonPatch.add(`${podSpec}/containers/0/securityContext/capabilities`, { drop: ["ALL"] }),
  JsonPatch.add(`${podSpec}/containers/0/terminationMessagePolicy`, "FallbackToLogsOnError"),
  // A disruption (preemption, node drain, eviction) is not the segment's fault: it must not use up a retry.
  // Bad input will fail the same way again: the pod is marked failed at once instead of being retried.
  JsonPatch.add("/spec/podFailurePolicy", {
    rules: [
      { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget" }] },
      { action: "FailJob", onExitCodes: { containerName: "render", operator: "In", values: [exitCodes.badInput] } },
    ],
  }),
];

/** Requests and limits as given, then the /dev/shm volume; before the placement's GPU limit is added to them. */
function resourcePatches(input: RenderJobInput): JsonPatch[] {
  const container = `${podSpec}/containers/0`;
  const shm = "shm";
  return [
    JsonPatch.add(`${container}/resources`, {
      requests: { cpu: input.cpu.request, memory: input.memory.request },
      limits: { cpu: input.cpu.limit, memory: input.memory.limit },
    }),
    ...(input.sharedMemory === undefined
      ? []
      : [
          JsonPatch.add(`${podSpec}/volumes/-`, {
            name: shm,
            emptyDir: { medium: "Memory", sizeLimit: input.sharedMemory },
          }),
          JsonPatch.add(`${container}/volumeMounts/-`, { name: shm, mountPath: sharedMemoryPath }),
        ]),
  ];
}

function placementPatches(placement: GpuPlacement): JsonPatch[] {
  const gpus = `${podSpec}/containers/0/resources/limits/${escapePointer(placement.resourceName)}`;
  return [
    ...(placement.count > 0 ? [JsonPatch.add(gpus, String(placement.count))] : []),
    JsonPatch.add(`${podSpec}/nodeSelector`, { ...placement.nodeSelector }),
    JsonPatch.add(
      `${podSpec}/tolerations`,
      placement.tolerations.map((t) => ({ ...t })),
    ),
    ...(placement.affinity === undefined ? [] : [JsonPatch.add(`${podSpec}/affinity`, placement.affinity)]),
    ...(placement.priorityClassName
      ? [JsonPatch.add(`${podSpec}/priorityClassName`, placement.priorityClassName)]
      : []),
    // Kueue admits a suspended Job by unsuspending it.
    ...(placement.queueName ? [JsonPatch.add("/spec/suspend", true)] : []),
  ];
}

function pullPolicyKey(policy: RenderJobInput["imagePullPolicy"]): "ALWAYS" | "IF_NOT_PRESENT" | "NEVER" {
  return policy === "Always" ? "ALWAYS" : policy === "Never" ? "NEVER" : "IF_NOT_PRESENT";
}

/** JSON Pointer escaping for keys such as `nvidia.com/gpu`. */
function escapePointer(key: string): string {
  return key.replace(/~/g, "~0").replace(/\//g, "~1");
}
