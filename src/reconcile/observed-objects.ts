/**
 * Translators from the objects the informers cache to the snapshot the reconciler decides on: what the labels,
 * annotations and conditions of the operator's own objects say, read back with the keys it wrote them under.
 */
import type { ClaimObject, JobObject, LongVideoObject, PodObject } from "../api/kubernetes-objects.ts";
import { operatorAnnotations, operatorLabels } from "../api/operator-labels.ts";
import type { FilmSnapshot, IntentResult, ObservedJob, ObservedPod } from "./film-snapshot.ts";
import { workspaceClaimName } from "./object-names.ts";

/** A Job the operator made, reduced to what decisions need; nothing for a Job it does not recognise. */
export function observedJob(job: JobObject): ObservedJob | undefined {
  const labels = job.metadata.labels ?? {};
  const annotations = job.metadata.annotations ?? {};
  const name = job.metadata.name;
  const kind = labels[operatorLabels.kind];
  if (!name || (kind !== "segment" && kind !== "concat")) return undefined;
  const conditions = job.status?.conditions ?? [];
  const complete = conditions.find((c) => c.type === "Complete" && c.status === "True");
  const failed = conditions.find((c) => c.type === "Failed" && c.status === "True");
  return {
    name,
    kind,
    segment: kind === "segment" ? Number(labels[operatorLabels.segment] ?? -1) : -1,
    hash: annotations[operatorAnnotations.hash] ?? "",
    inputDigest: annotations[operatorAnnotations.inputDigest] ?? "",
    attempt: Number(labels[operatorLabels.attempt] ?? 0),
    createdAt: job.metadata.creationTimestamp ?? new Date(0).toISOString(),
    finished: complete ? "Succeeded" : failed ? "Failed" : undefined,
    ...(failed?.reason ? { failureReason: failed.reason } : {}),
    ...(failed?.message ? { failureMessage: failed.message } : {}),
    deleting: job.metadata.deletionTimestamp !== undefined,
  };
}

/** A pod of one of the operator's Jobs, reduced likewise; nothing for a pod of no Job. */
export function observedPod(pod: PodObject): ObservedPod | undefined {
  const name = pod.metadata?.name;
  const jobName = pod.metadata?.labels?.["batch.kubernetes.io/job-name"] ?? pod.metadata?.labels?.["job-name"];
  if (!name || !jobName) return undefined;
  const state = pod.status?.containerStatuses?.[0]?.state;
  const terminated = state?.terminated;
  const startedAt = terminated?.startedAt ?? state?.running?.startedAt;
  const reason = terminated?.reason ?? pod.status?.reason;
  return {
    name,
    jobName,
    phase: pod.status?.phase ?? "Pending",
    ...(pod.spec?.nodeName ? { nodeName: pod.spec.nodeName } : {}),
    ...(startedAt ? { startedAt } : {}),
    ...(terminated?.finishedAt ? { finishedAt: terminated.finishedAt } : {}),
    ...(terminated?.exitCode === undefined ? {} : { exitCode: terminated.exitCode }),
    ...(terminated?.message ? { terminationMessage: terminated.message } : {}),
    ...(reason ? { reason } : {}),
  };
}

/** A finished pod, or a Job with a terminal condition: the moment a hand-off's clock starts. */
export function hasEnded(object: JobObject | PodObject): boolean {
  const status: { phase?: string; conditions?: readonly { type: string; status: string }[] } | undefined =
    object.status;
  if (status?.phase === "Succeeded" || status?.phase === "Failed") return true;
  return (
    status?.conditions?.some((c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True") ?? false
  );
}

/** The snapshot of one film: the film, its intent, and the jobs, pods and claim the caches hold for it. */
export function filmSnapshot(observed: {
  readonly now: Date;
  readonly film: LongVideoObject;
  readonly intent: IntentResult;
  readonly jobs: readonly JobObject[];
  readonly pods: readonly PodObject[];
  /** The cached claim named {@link workspaceClaimName} after the film, if any. */
  readonly claim: ClaimObject | undefined;
}): FilmSnapshot {
  const { film, claim } = observed;
  const uid = film.metadata.uid ?? "";
  return {
    now: observed.now,
    film: {
      name: film.metadata.name ?? "",
      namespace: film.metadata.namespace ?? "",
      uid,
      generation: film.metadata.generation ?? 0,
      deleting: film.metadata.deletionTimestamp !== undefined,
      finalizers: film.metadata.finalizers ?? [],
      status: film.status ?? {},
    },
    intent: observed.intent,
    jobs: observed.jobs.flatMap((job) => observedJob(job) ?? []),
    pods: observed.pods.flatMap((pod) => observedPod(pod) ?? []),
    workspaceClaim: claim
      ? {
          name: workspaceClaimName(film.metadata.name ?? ""),
          ownedByFilm: claim.metadata.ownerReferences?.some((o) => o.uid === uid) ?? false,
        }
      : undefined,
  };
}
