/**
 * Objects as the API server serves them to the operator's informers: the operator's own manifests with everything
 * the API server, the Job controller, the scheduler and the kubelet add (managed fields, defaults, the service
 * account volume, timestamps, IPs, image IDs). What the informers' reductions are tested and measured on.
 */
import type { ClaimObject, JobObject, LongVideoObject, PodObject } from "../../src/api/kubernetes-objects.ts";
import { longVideoApiVersion } from "../../src/api/long-video.ts";

type Json = Record<string, unknown>;

const stamp = (second: number) => new Date(Date.UTC(2026, 11, 2, 12, 0, second)).toISOString().replace(".000", "");

/**
 * A FieldsV1 set of every field of `object` (lists by position, as a manager that owns a whole list), the shape
 * managed fields take: about as large as the object it describes.
 */
function fieldsOf(object: unknown): Json {
  if (Array.isArray(object)) {
    return Object.fromEntries(object.map((item, i) => [`k:{"index":${String(i)}}`, { ".": {}, ...fieldsOf(item) }]));
  }
  if (typeof object !== "object" || object === null) return {};
  return Object.fromEntries(Object.entries(object).map(([key, value]) => [`f:${key}`, fieldsOf(value)]));
}

function managedFields(entries: readonly { manager: string; subresource?: string; fields: unknown }[]): Json[] {
  return entries.map(({ manager, subresource, fields }) => ({
    manager,
    operation: "Update",
    apiVersion: "v1",
    time: stamp(1),
    fieldsType: "FieldsV1",
    fieldsV1: fieldsOf(fields),
    ...(subresource === undefined ? {} : { subresource }),
  }));
}

type Container = Json & { name?: string; image?: string; volumeMounts?: Json[] };

/** A Job manifest as src/manifests builds it. */
export interface Manifest {
  readonly metadata: Json & { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  readonly spec: Json & { template: { metadata?: Json; spec: Json & { containers: Container[] } } };
}

/** A film as served: metadata the API server adds, `kubectl apply`'s copy of the spec, and its status. */
export function servedFilm(film: {
  name: string;
  namespace: string;
  uid: string;
  spec: Json;
  status: Json;
}): LongVideoObject {
  const applied = {
    apiVersion: longVideoApiVersion,
    kind: "LongVideo",
    metadata: { name: film.name },
    spec: film.spec,
  };
  const served = {
    apiVersion: longVideoApiVersion,
    kind: "LongVideo",
    metadata: {
      name: film.name,
      namespace: film.namespace,
      uid: film.uid,
      resourceVersion: "5012",
      generation: 1,
      creationTimestamp: stamp(0),
      finalizers: ["longvideo.dev/cleanup"],
      annotations: { "kubectl.kubernetes.io/last-applied-configuration": `${JSON.stringify(applied)}\n` },
      managedFields: managedFields([
        { manager: "kubectl-client-side-apply", fields: { metadata: { annotations: {} }, spec: film.spec } },
        { manager: "longvideo-operator", fields: { metadata: { finalizers: [] } } },
        { manager: "longvideo-operator", subresource: "status", fields: { status: film.status } },
      ]),
    },
    spec: film.spec,
    status: film.status,
  };
  return served;
}

/** A Job the operator created, as served once its pod ran: defaults, the controller's labels, status. */
export function servedJob(manifest: Manifest, namespace: string, uid: string, outcome?: "Complete"): JobObject {
  const controller = { "batch.kubernetes.io/controller-uid": uid, "controller-uid": uid };
  const jobName = { "batch.kubernetes.io/job-name": manifest.metadata.name, "job-name": manifest.metadata.name };
  const template = manifest.spec.template;
  const spec = {
    ...manifest.spec,
    parallelism: 1,
    completions: 1,
    completionMode: "NonIndexed",
    suspend: false,
    manualSelector: false,
    podReplacementPolicy: "TerminatingOrFailed",
    selector: { matchLabels: { "batch.kubernetes.io/controller-uid": uid } },
    template: {
      ...template,
      metadata: {
        ...template.metadata,
        labels: { ...(template.metadata?.labels as Json | undefined), ...controller, ...jobName },
      },
    },
  };
  const conditions =
    outcome === "Complete"
      ? [
          {
            type: "SuccessCriteriaMet",
            status: "True",
            reason: "CompletionsReached",
            message: "Reached expected number of succeeded pods",
            lastProbeTime: stamp(4),
            lastTransitionTime: stamp(4),
          },
          {
            type: "Complete",
            status: "True",
            reason: "CompletionsReached",
            message: "Reached expected number of succeeded pods",
            lastProbeTime: stamp(4),
            lastTransitionTime: stamp(4),
          },
        ]
      : undefined;
  const status = {
    startTime: stamp(1),
    ready: 0,
    terminating: 0,
    uncountedTerminatedPods: {},
    ...(conditions ? { conditions, succeeded: 1, completionTime: stamp(4) } : { active: 1 }),
  };
  const served = {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      ...manifest.metadata,
      namespace,
      uid,
      resourceVersion: "5120",
      generation: 1,
      creationTimestamp: stamp(1),
      labels: { ...manifest.metadata.labels, ...controller, ...jobName },
      managedFields: managedFields([
        { manager: "longvideo-operator", fields: { metadata: manifest.metadata, spec: manifest.spec } },
        { manager: "kube-controller-manager", subresource: "status", fields: { status } },
      ]),
    },
    spec,
    status,
  };
  return served as unknown as JobObject;
}

/** The state of a served pod: waiting for a node, running, or ended with the runtime's termination message. */
export type PodState =
  | { readonly phase: "Pending"; readonly unschedulable: string }
  | { readonly phase: "Running" }
  | { readonly phase: "Succeeded" | "Failed"; readonly exitCode: number; readonly message: string };

/** The pod of a served Job, as the scheduler and the kubelet leave it. */
export function servedPod(job: JobObject, state: PodState, node = "kwok-h100-7"): PodObject {
  const jobMetadata = job.metadata as { name: string; namespace: string; uid: string };
  const template = (job as unknown as { spec: Manifest["spec"] }).spec.template;
  const name = `${jobMetadata.name}-x7k2p`;
  const containers = template.spec.containers.map((c) => ({
    ...c,
    terminationMessagePath: "/dev/termination-log",
    terminationMessagePolicy: "File",
    volumeMounts: [
      ...(c.volumeMounts ?? []),
      { name: "kube-api-access-9xq2m", readOnly: true, mountPath: "/var/run/secrets/kubernetes.io/serviceaccount" },
    ],
  }));
  const scheduled = state.phase !== "Pending";
  const spec = {
    ...template.spec,
    containers,
    volumes: [
      ...((template.spec.volumes as Json[] | undefined) ?? []),
      {
        name: "kube-api-access-9xq2m",
        projected: {
          defaultMode: 420,
          sources: [
            { serviceAccountToken: { expirationSeconds: 3607, path: "token" } },
            { configMap: { name: "kube-root-ca.crt", items: [{ key: "ca.crt", path: "ca.crt" }] } },
            {
              downwardAPI: {
                items: [{ path: "namespace", fieldRef: { apiVersion: "v1", fieldPath: "metadata.namespace" } }],
              },
            },
          ],
        },
      },
    ],
    dnsPolicy: "ClusterFirst",
    schedulerName: "default-scheduler",
    serviceAccountName: "default",
    serviceAccount: "default",
    securityContext: {},
    priority: 0,
    enableServiceLinks: true,
    preemptionPolicy: "PreemptLowerPriority",
    terminationGracePeriodSeconds: 30,
    tolerations: [
      ...((template.spec.tolerations as Json[] | undefined) ?? []),
      { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 },
      { key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 },
    ],
    ...(scheduled ? { nodeName: node } : {}),
  };
  const condition = (type: string, status: string, extra: Json = {}) => ({
    type,
    status,
    lastProbeTime: null,
    lastTransitionTime: stamp(2),
    ...extra,
  });
  const ended = state.phase === "Succeeded" || state.phase === "Failed";
  const containerState =
    state.phase === "Running"
      ? { running: { startedAt: stamp(2) } }
      : ended
        ? {
            terminated: {
              exitCode: state.exitCode,
              reason: state.exitCode === 0 ? "Completed" : "Error",
              message: state.message,
              startedAt: stamp(2),
              finishedAt: stamp(3),
              containerID: "containerd://4f1c0d6e0b3c2a9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d",
            },
          }
        : { waiting: { reason: "ContainerCreating" } };
  const status = {
    phase: state.phase,
    qosClass: "Burstable",
    ...(state.phase === "Pending"
      ? {
          conditions: [condition("PodScheduled", "False", { reason: "Unschedulable", message: state.unschedulable })],
        }
      : {
          conditions: [
            condition("PodReadyToStartContainers", "True"),
            condition("Initialized", "True"),
            condition("Ready", state.phase === "Running" ? "True" : "False"),
            condition("ContainersReady", state.phase === "Running" ? "True" : "False"),
            condition("PodScheduled", "True"),
          ],
          hostIP: "10.0.3.7",
          hostIPs: [{ ip: "10.0.3.7" }],
          podIP: "10.244.3.19",
          podIPs: [{ ip: "10.244.3.19" }],
          startTime: stamp(2),
          containerStatuses: containers.map((c) => ({
            name: c.name,
            state: containerState,
            lastState: {},
            ready: state.phase === "Running",
            restartCount: 0,
            image: c.image,
            imageID: "registry.example/runtime@sha256:0d3c6b1f9a8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a392817060f5e",
            started: state.phase === "Running",
            containerID: "containerd://4f1c0d6e0b3c2a9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d",
            volumeMounts: c.volumeMounts.map((m) => ({ ...m, recursiveReadOnly: "Disabled" })),
          })),
        }),
  };
  const served = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      ...template.metadata,
      name,
      generateName: `${jobMetadata.name}-`,
      namespace: jobMetadata.namespace,
      uid: `${jobMetadata.uid}-pod`,
      resourceVersion: "5130",
      creationTimestamp: stamp(1),
      finalizers: ["batch.kubernetes.io/job-tracking"],
      ownerReferences: [
        {
          apiVersion: "batch/v1",
          kind: "Job",
          name: jobMetadata.name,
          uid: jobMetadata.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
      managedFields: managedFields([
        { manager: "kube-controller-manager", fields: { metadata: template.metadata, spec: template.spec } },
        { manager: "kubelet", subresource: "status", fields: { status } },
      ]),
    },
    spec,
    status,
  };
  return served;
}

/** A workspace claim the operator created, bound. */
export function servedClaim(manifest: Json, namespace: string, uid: string): ClaimObject {
  const metadata = manifest.metadata as Json;
  const served = {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: {
      ...metadata,
      namespace,
      uid,
      resourceVersion: "5003",
      creationTimestamp: stamp(0),
      finalizers: ["kubernetes.io/pvc-protection"],
      annotations: {
        "pv.kubernetes.io/bind-completed": "yes",
        "pv.kubernetes.io/bound-by-controller": "yes",
        "volume.beta.kubernetes.io/storage-provisioner": "rancher.io/local-path",
      },
      managedFields: managedFields([
        { manager: "longvideo-operator", fields: manifest },
        { manager: "kube-controller-manager", fields: { metadata: { annotations: {} }, spec: { volumeName: "" } } },
      ]),
    },
    spec: { ...(manifest.spec as Json), volumeName: `bench-volume-${uid}`, volumeMode: "Filesystem" },
    status: { phase: "Bound", accessModes: ["ReadWriteMany"], capacity: { storage: "10Gi" } },
  };
  return served;
}
