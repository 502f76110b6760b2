/**
 * The shapes of the objects the operator caches, and the functions that reduce what the API server sends to them
 * (each informer's `trim`, as client-go's `SetTransform`). Informers keep every owned Job and Pod of every film;
 * whole objects (managed fields, pod specs carrying each segment's environment, volumes and probes) would make the
 * cache grow with what nobody reads.
 *
 * What is kept is what src/reconcile/observed-objects.ts and the controller's event handlers read, and nothing
 * else: a field read here but dropped would read as absent, a silent wrong decision, so each reduction is tested
 * by deciding on the reduced objects and the whole ones alike (cached-object.test.ts).
 */
import { operatorLabels } from "../api/operator-labels.ts";
import type {
  ClaimObject,
  EventObject,
  JobObject,
  KubeObject,
  NodeObject,
  PodObject,
  WorkloadObject,
} from "../api/kubernetes-objects.ts";

type Metadata = NonNullable<KubeObject["metadata"]>;

/** The annotation `kubectl apply` keeps the whole applied object in: a second copy of a film's spec. */
export const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration";

/** The Job controller's label naming a pod's Job, new and legacy. */
const jobNameLabels: readonly string[] = ["batch.kubernetes.io/job-name", "job-name"];
const operatorLabelPrefix = "longvideo.dev/";

/**
 * Labels the operator reads back: its own (which film, kind, segment and attempt an object is, how objects are
 * indexed by film) and the Job controller's name of a pod's Job. A film's `podMetadata` labels, the Job
 * controller's others and a node's dozens are read by nobody here.
 */
function readLabel(key: string): boolean {
  return key.startsWith(operatorLabelPrefix) || key === operatorLabels.managedBy || jobNameLabels.includes(key);
}

function readLabels(labels: Metadata["labels"]): Pick<Metadata, "labels"> {
  if (labels === undefined) return {};
  const kept = Object.entries(labels).filter(([key]) => readLabel(key));
  return kept.length === 0 ? {} : { labels: Object.fromEntries(kept) };
}

/** The identity fields every cached object keeps: what keys it, selects it and tells its owner. */
function identity(metadata: Metadata | undefined): Metadata {
  return {
    ...(metadata?.name === undefined ? {} : { name: metadata.name }),
    ...(metadata?.namespace === undefined ? {} : { namespace: metadata.namespace }),
    ...(metadata?.uid === undefined ? {} : { uid: metadata.uid }),
    ...(metadata?.resourceVersion === undefined ? {} : { resourceVersion: metadata.resourceVersion }),
    ...readLabels(metadata?.labels),
    ...(metadata?.ownerReferences === undefined
      ? {}
      : { ownerReferences: metadata.ownerReferences.map(({ uid, kind, name }) => ({ uid, kind, name })) }),
  };
}

/**
 * A film without its managed fields (sent with every object, read by nobody here) and without the copy of itself
 * `kubectl apply` leaves in an annotation. Spec and status are read whole (the intent, the records), so they stay;
 * so does the rest of its metadata, which is small.
 */
export function cachedFilm<T extends KubeObject>(film: T): T {
  const metadata = film.metadata as (Metadata & { annotations?: Readonly<Record<string, string>> }) | undefined;
  const applied = metadata?.annotations !== undefined && lastAppliedAnnotation in metadata.annotations;
  if (!metadata || (!("managedFields" in metadata) && !applied)) return film;
  const kept: Record<string, unknown> = { ...metadata };
  delete kept.managedFields;
  if (applied) {
    const annotations = Object.entries(metadata.annotations ?? {}).filter(([key]) => key !== lastAppliedAnnotation);
    if (annotations.length === 0) delete kept.annotations;
    else kept.annotations = Object.fromEntries(annotations);
  }
  return { ...film, metadata: kept };
}

/** The operator's own annotations of a Job (hash, digests, claim, limits, template key): the only ones read. */
function operatorAnnotations(
  annotations: JobObject["metadata"]["annotations"],
): Pick<JobObject["metadata"], "annotations"> {
  const kept = Object.entries(annotations ?? {}).filter(([key]) => key.startsWith(operatorLabelPrefix));
  return kept.length === 0 ? {} : { annotations: Object.fromEntries(kept) };
}

export function cachedJob(job: JobObject): JobObject {
  const { annotations, creationTimestamp, deletionTimestamp } = job.metadata;
  return {
    metadata: {
      ...identity(job.metadata),
      ...operatorAnnotations(annotations),
      ...(creationTimestamp === undefined ? {} : { creationTimestamp }),
      ...(deletionTimestamp === undefined ? {} : { deletionTimestamp }),
    },
    ...(job.status?.conditions === undefined
      ? {}
      : {
          status: {
            conditions: job.status.conditions.map(({ type, status, reason, message }) => ({
              type,
              status,
              ...(reason === undefined ? {} : { reason }),
              ...(message === undefined ? {} : { message }),
            })),
          },
        }),
  };
}

export function cachedPod(pod: PodObject): PodObject {
  const status = pod.status;
  const deletionTimestamp = pod.metadata?.deletionTimestamp;
  return {
    metadata: { ...identity(pod.metadata), ...(deletionTimestamp === undefined ? {} : { deletionTimestamp }) },
    ...(pod.spec?.nodeName === undefined ? {} : { spec: { nodeName: pod.spec.nodeName } }),
    ...(status === undefined
      ? {}
      : {
          status: {
            ...(status.phase === undefined ? {} : { phase: status.phase }),
            ...(status.reason === undefined ? {} : { reason: status.reason }),
            ...toldConditions(status.conditions),
            ...firstContainerState(status.containerStatuses),
          },
        }),
  };
}

type ContainerStatus = NonNullable<NonNullable<PodObject["status"]>["containerStatuses"]>[number];
type ContainerState = NonNullable<ContainerStatus["state"]>;

/**
 * The first container's state (the render container's: the only one read), with only what is read of it: why it
 * waits, when it started, how it ended. Image, IDs, restart counts and readiness go.
 */
function firstContainerState(
  statuses: NonNullable<PodObject["status"]>["containerStatuses"],
): Pick<NonNullable<PodObject["status"]>, "containerStatuses"> {
  if (statuses === undefined) return {};
  const state = statuses[0]?.state;
  if (state === undefined) return { containerStatuses: statuses.length === 0 ? [] : [{}] };
  const { waiting, running, terminated } = state;
  const reduced: ContainerState = {
    ...(waiting ? { waiting: defined({ reason: waiting.reason, message: waiting.message }) } : {}),
    ...(running ? { running: defined({ startedAt: running.startedAt }) } : {}),
    ...(terminated
      ? {
          terminated: defined({
            exitCode: terminated.exitCode,
            reason: terminated.reason,
            message: terminated.message,
            startedAt: terminated.startedAt,
            finishedAt: terminated.finishedAt,
          }),
        }
      : {}),
  };
  return { containerStatuses: [{ state: reduced }] };
}

/** An object without its undefined fields: absent stays absent, as exactOptionalPropertyTypes wants. */
function defined<T extends Record<string, unknown>>(fields: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>;
  };
}

/**
 * Only the conditions the reconciler reads: the scheduler's refusal (why a pod waits for a node) and a
 * disruption (the cluster, not the work, ended the pod).
 */
function toldConditions(
  conditions: NonNullable<PodObject["status"]>["conditions"],
): Pick<NonNullable<PodObject["status"]>, "conditions"> {
  const told = (conditions ?? []).filter(
    (c) =>
      (c.type === "PodScheduled" && c.status === "False") || (c.type === "DisruptionTarget" && c.status === "True"),
  );
  if (told.length === 0) return {};
  return {
    conditions: told.map(({ type, status, reason, message }) => ({
      type,
      status,
      ...(reason === undefined ? {} : { reason }),
      ...(message === undefined ? {} : { message }),
    })),
  };
}

/** An event reduced to what it says about which object, and when. */
export function cachedEvent(event: EventObject): EventObject {
  const { involvedObject, reason, message, count, lastTimestamp, eventTime } = event;
  return {
    metadata: identity(event.metadata),
    ...(involvedObject === undefined
      ? {}
      : {
          involvedObject: {
            ...(involvedObject.kind === undefined ? {} : { kind: involvedObject.kind }),
            ...(involvedObject.name === undefined ? {} : { name: involvedObject.name }),
            ...(involvedObject.namespace === undefined ? {} : { namespace: involvedObject.namespace }),
            ...(involvedObject.uid === undefined ? {} : { uid: involvedObject.uid }),
          },
        }),
    ...(reason === undefined ? {} : { reason }),
    ...(message === undefined ? {} : { message }),
    ...(count === undefined ? {} : { count }),
    ...(lastTimestamp ? { lastTimestamp } : {}),
    ...(eventTime ? { eventTime } : {}),
  };
}

/** A node reduced to its Ready condition. */
export function cachedNode(node: NodeObject): NodeObject {
  const ready = node.status?.conditions?.find((c) => c.type === "Ready");
  if (!ready) return { metadata: identity(node.metadata) };
  // Without the heartbeat times, which change on every node status update and nobody here reads.
  const { type, status, reason, message } = ready;
  const condition = {
    type,
    status,
    ...(reason === undefined ? {} : { reason }),
    ...(message === undefined ? {} : { message }),
  };
  return { metadata: identity(node.metadata), status: { conditions: [condition] } };
}

export function cachedClaim(claim: ClaimObject): ClaimObject {
  const { deletionTimestamp } = claim.metadata;
  return {
    metadata: { ...identity(claim.metadata), ...(deletionTimestamp === undefined ? {} : { deletionTimestamp }) },
  };
}

/**
 * A Kueue Workload reduced to its owner (the Job), its conditions and its eviction counts: its spec (the Job's pod
 * template) and admission details nobody here reads.
 */
export function cachedWorkload(workload: WorkloadObject): WorkloadObject {
  const status = workload.status;
  const evictions = status?.schedulingStats?.evictions;
  return {
    metadata: identity(workload.metadata),
    ...(status === undefined
      ? {}
      : {
          status: {
            ...(status.conditions === undefined
              ? {}
              : {
                  conditions: status.conditions.map(({ type, status: holds, reason, message }) => ({
                    type,
                    status: holds,
                    ...(reason === undefined ? {} : { reason }),
                    ...(message === undefined ? {} : { message }),
                  })),
                }),
            ...(evictions === undefined
              ? {}
              : {
                  schedulingStats: {
                    evictions: evictions.map(({ reason, count }) => ({
                      ...(reason === undefined ? {} : { reason }),
                      ...(count === undefined ? {} : { count }),
                    })),
                  },
                }),
          },
        }),
  };
}
