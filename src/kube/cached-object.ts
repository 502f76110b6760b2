/**
 * The shapes of the objects the operator caches, and the functions that reduce what the API server sends to them.
 * Informers keep every owned Job and Pod of every film; whole objects (managed fields, pod specs carrying each
 * segment's environment, volumes and probes) would make the cache grow with what nobody reads.
 */
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

/** The identity fields every cached object keeps: what keys it, selects it and tells its owner. */
function identity(metadata: Metadata | undefined): Metadata {
  return {
    ...(metadata?.name === undefined ? {} : { name: metadata.name }),
    ...(metadata?.namespace === undefined ? {} : { namespace: metadata.namespace }),
    ...(metadata?.uid === undefined ? {} : { uid: metadata.uid }),
    ...(metadata?.resourceVersion === undefined ? {} : { resourceVersion: metadata.resourceVersion }),
    ...(metadata?.labels === undefined ? {} : { labels: metadata.labels }),
    ...(metadata?.ownerReferences === undefined
      ? {}
      : { ownerReferences: metadata.ownerReferences.map(({ uid, kind, name }) => ({ uid, kind, name })) }),
  };
}

/** An object without its managed fields, which the API server sends with every object and nobody here reads. */
export function withoutManagedFields<T extends KubeObject>(object: T): T {
  if (!object.metadata || !("managedFields" in object.metadata)) return object;
  const metadata: Record<string, unknown> = { ...object.metadata };
  delete metadata.managedFields;
  return { ...object, metadata };
}

/** A film keeps spec and status (both are read); only managed fields go. */
export const cachedFilm = withoutManagedFields;

export function cachedJob(job: JobObject): JobObject {
  const { annotations, creationTimestamp, deletionTimestamp } = job.metadata;
  return {
    metadata: {
      ...identity(job.metadata),
      ...(annotations === undefined ? {} : { annotations }),
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
            ...(status.containerStatuses === undefined
              ? {}
              : { containerStatuses: status.containerStatuses.map((c) => (c.state ? { state: c.state } : {})) }),
          },
        }),
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
