/**
 * The shapes of the objects the operator caches, and the functions that reduce what the API server sends to them.
 * Informers keep every owned Job and Pod of every film; whole objects (managed fields, pod specs carrying each
 * segment's environment, volumes and probes) would make the cache grow with what nobody reads.
 */
import type { ClaimObject, JobObject, KubeObject, PodObject } from "../api/kubernetes-objects.ts";

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
  return {
    metadata: identity(pod.metadata),
    ...(pod.spec?.nodeName === undefined ? {} : { spec: { nodeName: pod.spec.nodeName } }),
    ...(status === undefined
      ? {}
      : {
          status: {
            ...(status.phase === undefined ? {} : { phase: status.phase }),
            ...(status.reason === undefined ? {} : { reason: status.reason }),
            ...unscheduled(status.conditions),
            ...(status.containerStatuses === undefined
              ? {}
              : { containerStatuses: status.containerStatuses.map((c) => (c.state ? { state: c.state } : {})) }),
          },
        }),
  };
}

/** Only the scheduler's refusal: why a pod waits for a node is the one condition the reconciler reports. */
function unscheduled(
  conditions: NonNullable<PodObject["status"]>["conditions"],
): Pick<NonNullable<PodObject["status"]>, "conditions"> {
  const refusal = conditions?.find((c) => c.type === "PodScheduled" && c.status === "False");
  if (!refusal) return {};
  const { type, status, reason, message } = refusal;
  return {
    conditions: [
      { type, status, ...(reason === undefined ? {} : { reason }), ...(message === undefined ? {} : { message }) },
    ],
  };
}

export function cachedClaim(claim: ClaimObject): ClaimObject {
  const { deletionTimestamp } = claim.metadata;
  return {
    metadata: { ...identity(claim.metadata), ...(deletionTimestamp === undefined ? {} : { deletionTimestamp }) },
  };
}
