/**
 * Translators from the objects the informers cache to the snapshot the reconciler decides on: what the labels,
 * annotations and conditions of the operator's own objects say, read back with the keys it wrote them under.
 */
import type {
  ClaimObject,
  EventObject,
  JobObject,
  LongVideoObject,
  NodeObject,
  PodObject,
  WorkloadObject,
} from "../api/kubernetes-objects.ts";
import { operatorAnnotations, operatorLabels } from "../api/operator-labels.ts";
import type {
  CreateRefusal,
  FilmSnapshot,
  IntentResult,
  KueueAdmission,
  JobKind,
  ObservedFilm,
  ObservedJob,
  ObservedPod,
  SegmentRecord,
} from "./film-snapshot.ts";
import { workspaceClaimName } from "./object-names.ts";
import { expandedStatus } from "./status-compaction.ts";

/** A Job the operator made, reduced to what decisions need; nothing for a Job it does not recognise. */
export function observedJob(job: JobObject): ObservedJob | undefined {
  const labels = job.metadata.labels ?? {};
  const annotations = job.metadata.annotations ?? {};
  const name = job.metadata.name;
  const kind = labels[operatorLabels.kind];
  if (!name || !isJobKind(kind)) return undefined;
  return {
    name,
    uid: job.metadata.uid ?? "",
    kind,
    segment: kind === "segment" ? Number(labels[operatorLabels.segment] ?? -1) : -1,
    hash: annotations[operatorAnnotations.hash] ?? "",
    inputDigest: annotations[operatorAnnotations.inputDigest] ?? "",
    ...(annotations[operatorAnnotations.inputFrom] ? { inputFrom: annotations[operatorAnnotations.inputFrom] } : {}),
    attempt: Number(labels[operatorLabels.attempt] ?? 0),
    createdAt: job.metadata.creationTimestamp ?? new Date(0).toISOString(),
    ...recordedOnJob(annotations),
    ...jobState(job.status?.conditions ?? []),
    deleting: job.metadata.deletionTimestamp !== undefined,
  };
}

const jobKinds: readonly string[] = ["segment", "concat", "probe"] satisfies JobKind[];

function isJobKind(kind: string | undefined): kind is JobKind {
  return kind !== undefined && jobKinds.includes(kind);
}

type JobCondition = NonNullable<NonNullable<JobObject["status"]>["conditions"]>[number];

/** What the operator recorded on the Job besides its identity: its claim, memory limit and pod template. */
function recordedOnJob(
  annotations: Readonly<Record<string, string>>,
): Pick<ObservedJob, "workspaceUid" | "memoryLimit" | "podTemplate"> {
  return {
    ...present("workspaceUid", annotations[operatorAnnotations.workspaceUid]),
    ...present("memoryLimit", annotations[operatorAnnotations.memoryLimit]),
    ...present("podTemplate", annotations[operatorAnnotations.podTemplate]),
  };
}

/** What the Job controller's conditions say: how the Job ended, or whether it is suspended. */
function jobState(
  conditions: readonly JobCondition[],
): Pick<ObservedJob, "finished" | "failureReason" | "failureMessage" | "suspended"> {
  return { ...present("suspended", suspendedMessage(conditions)), ...jobOutcome(conditions) };
}

/** The Job controller's word that the Job is suspended, while it is. */
function suspendedMessage(conditions: readonly JobCondition[]): string | undefined {
  const suspended = conditions.find((c) => c.type === "Suspended" && c.status === "True");
  return suspended ? (suspended.message ?? suspended.reason ?? "Job suspended") : undefined;
}

/** How the Job controller says the Job ended, if it did. */
function jobOutcome(
  conditions: readonly JobCondition[],
): Pick<ObservedJob, "finished" | "failureReason" | "failureMessage"> {
  const holds = (type: string) => conditions.find((c) => c.type === type && c.status === "True");
  if (holds("Complete")) return { finished: "Succeeded" };
  const failed = holds("Failed");
  if (!failed) return { finished: undefined };
  return {
    finished: "Failed",
    ...present("failureReason", failed.reason),
    ...present("failureMessage", failed.message),
  };
}

/**
 * What Kueue says of the Job a Workload was made for: admitted or not, why not (the QuotaReserved condition's
 * message while quota is not reserved, then the Admitted condition's while admission checks are pending), whether
 * it was evicted and how often.
 */
export function kueueAdmission(workload: WorkloadObject): KueueAdmission {
  const conditions = workload.status?.conditions ?? [];
  const holds = (type: string) => conditions.find((c) => c.type === type && c.status === "True");
  const reserved = holds("QuotaReserved") !== undefined;
  const admitted = reserved && holds("Admitted") !== undefined;
  const pending = admitted ? undefined : pendingMessage(conditions, reserved);
  const evicted = holds("Evicted");
  const evictions = (workload.status?.schedulingStats?.evictions ?? []).reduce((sum, e) => sum + (e.count ?? 0), 0);
  return {
    workload: workload.metadata?.name ?? "",
    admitted,
    ...present("pending", pending),
    ...present("evicted", evicted && `${evicted.reason ?? "Evicted"}: ${evicted.message ?? "evicted by Kueue"}`),
    evictions,
  };
}

/** Why Kueue has not admitted a Workload: no quota reserved yet, or admission checks pending. */
function pendingMessage(conditions: readonly WorkloadCondition[], reserved: boolean): string {
  const said = (type: string) => {
    const condition = conditions.find((c) => c.type === type);
    return condition ? (condition.message ?? condition.reason) : undefined;
  };
  return reserved
    ? (said("Admitted") ?? "quota reserved; waiting for admission checks")
    : (said("QuotaReserved") ?? "Kueue has not considered it yet");
}

type WorkloadCondition = NonNullable<NonNullable<WorkloadObject["status"]>["conditions"]>[number];

/** A pod of one of the operator's Jobs, reduced likewise; nothing for a pod of no Job. */
export function observedPod(pod: PodObject): ObservedPod | undefined {
  const name = pod.metadata?.name;
  const labels = pod.metadata?.labels ?? {};
  const jobName = labels["batch.kubernetes.io/job-name"] ?? labels["job-name"];
  if (!name || !jobName) return undefined;
  return {
    name,
    jobName,
    phase: pod.status?.phase ?? "Pending",
    ...present("nodeName", pod.spec?.nodeName),
    ...present("unschedulable", unschedulableMessage(pod)),
    ...present("disruption", disruptionMessage(pod)),
    ...(pod.metadata.deletionTimestamp === undefined ? {} : { deleting: true as const }),
    ...waitingOutcome(pod),
    ...containerOutcome(pod),
  };
}

/** Waiting reasons that are a pod's normal way to its start, not something holding it back. */
const startingReasons = new Set(["ContainerCreating", "PodInitializing"]);

/** Why the kubelet cannot start the container (an image pull, a missing ConfigMap key), while it cannot. */
function waitingOutcome(pod: PodObject): Pick<ObservedPod, "blocked"> {
  const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting;
  if (!waiting?.reason || startingReasons.has(waiting.reason)) return {};
  return { blocked: { reason: waiting.reason, message: waiting.message ?? waiting.reason } };
}

function disruptionMessage(pod: PodObject): string | undefined {
  const condition = pod.status?.conditions?.find((c) => c.type === "DisruptionTarget" && c.status === "True");
  if (!condition) return undefined;
  return `${condition.reason ?? "Disrupted"}: ${condition.message ?? "the cluster ended the pod"}`;
}

function unschedulableMessage(pod: PodObject): string | undefined {
  const condition = pod.status?.conditions?.find((c) => c.type === "PodScheduled" && c.status === "False");
  if (condition?.reason !== "Unschedulable") return undefined;
  return condition.message ?? "no node fits the pod";
}

/** When the render container started and how it ended, from its state. */
function containerOutcome(pod: PodObject): Partial<ObservedPod> {
  const state = pod.status?.containerStatuses?.[0]?.state;
  const terminated = state?.terminated;
  if (!terminated)
    return { ...present("startedAt", state?.running?.startedAt), ...present("reason", pod.status?.reason) };
  return {
    ...present("startedAt", terminated.startedAt),
    ...present("finishedAt", terminated.finishedAt),
    ...(terminated.exitCode === undefined ? {} : { exitCode: terminated.exitCode }),
    ...present("terminationMessage", terminated.message),
    ...present("reason", terminated.reason ?? pod.status?.reason),
  };
}

/** `{ key: value }` for a non-empty value, `{}` otherwise: optional fields stay absent, never undefined. */
function present<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value ? ({ [key]: value } as Partial<Record<K, string>>) : {};
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

/** What the caches hold for one film, and what the I/O layer saw. */
export interface ObservedObjects {
  readonly now: Date;
  readonly film: LongVideoObject;
  readonly intent: IntentResult;
  readonly jobs: readonly JobObject[];
  readonly pods: readonly PodObject[];
  /** The cached claim named {@link workspaceClaimName} after the film, if any. */
  readonly claim: ClaimObject | undefined;
  /** Warning events about those jobs (FailedCreate) and pods (FailedMount). */
  readonly events?: readonly EventObject[];
  /** Kueue's Workloads of those jobs (by owner), when Kueue's API is served and the operator may read it. */
  readonly workloads?: readonly WorkloadObject[];
  /** The nodes by name, when the operator may watch them; without them no node is judged lost. */
  readonly nodes?: (name: string) => NodeObject | undefined;
  readonly refusal?: CreateRefusal;
  /** Another film's latest timed segments of the same timing shape (see {@link FilmSnapshot.shapeTiming}). */
  readonly shapeTiming?: readonly SegmentRecord[];
}

/** The snapshot of one film: the film, its intent, and the jobs, pods and claim the caches hold for it. */
export function filmSnapshot(observed: ObservedObjects): FilmSnapshot {
  const film = observedFilm(observed.film);
  const events = latestEvents(observed.events ?? []);
  return {
    now: observed.now,
    film,
    intent: observed.intent,
    // By owner, not by the film label alone: a film re-created under the same name must not adopt the jobs an
    // earlier film of that name left behind (deleted with --cascade=orphan).
    jobs: observed.jobs.flatMap((job) => {
      const seen = ownedBy(job, film.uid) ? observedJob(job) : undefined;
      if (!seen) return [];
      const refused = events.get(`FailedCreate/${job.metadata.uid ?? ""}`);
      const workload = seen.uid === "" ? undefined : observed.workloads?.find((w) => ownedBy(w, seen.uid));
      return [
        {
          ...seen,
          ...(refused === undefined ? {} : { podRefused: refused }),
          ...(workload ? { admission: kueueAdmission(workload) } : {}),
        },
      ];
    }),
    pods: observed.pods.flatMap((pod) => {
      const seen = observedPod(pod);
      if (!seen) return [];
      const mount = events.get(`FailedMount/${pod.metadata?.uid ?? ""}`);
      const blocked = seen.blocked ?? (mount === undefined ? undefined : { reason: "FailedMount", message: mount });
      return [{ ...seen, ...(blocked ? { blocked } : {}), ...lostNode(seen.nodeName, observed.nodes) }];
    }),
    ...(observed.refusal ? { refusal: observed.refusal } : {}),
    ...(observed.shapeTiming && observed.shapeTiming.length > 0 ? { shapeTiming: observed.shapeTiming } : {}),
    workspaceClaim: observed.claim && {
      name: workspaceClaimName(film.name),
      uid: observed.claim.metadata.uid ?? "",
      ownedByFilm: observed.claim.metadata.ownerReferences?.some((o) => o.uid === film.uid) ?? false,
      deleting: observed.claim.metadata.deletionTimestamp !== undefined,
    },
  };
}

/** Per `reason/uid` of the object it is about, the message of the latest event. */
function latestEvents(events: readonly EventObject[]): Map<string, string> {
  const when = (e: EventObject) => e.lastTimestamp ?? e.eventTime ?? "";
  const latest = new Map<string, EventObject>();
  for (const event of events) {
    const key = `${event.reason ?? ""}/${event.involvedObject?.uid ?? ""}`;
    const known = latest.get(key);
    if (!known || when(known) <= when(event)) latest.set(key, event);
  }
  return new Map([...latest].map(([key, event]) => [key, event.message ?? event.reason ?? ""]));
}

/** Whether the node a pod is bound to is lost, and why: gone, or not Ready (in the node controller's words). */
function lostNode(
  name: string | undefined,
  nodes: ObservedObjects["nodes"],
): Pick<ObservedPod, "nodeLost" | "nodeGone"> {
  if (name === undefined || nodes === undefined) return {};
  const node = nodes(name);
  if (!node) return { nodeLost: "the node no longer exists", nodeGone: true };
  const ready = node.status?.conditions?.find((c) => c.type === "Ready");
  if (!ready || ready.status === "True") return {};
  const why = ready.message ?? ready.reason ?? "not ready";
  return { nodeLost: `Ready=${ready.status}${ready.reason ? ` (${ready.reason})` : ""}: ${why}` };
}

function ownedBy(object: JobObject | WorkloadObject, uid: string): boolean {
  return object.metadata?.ownerReferences?.some((o) => o.uid === uid) ?? false;
}

function observedFilm(film: LongVideoObject): ObservedFilm {
  const { metadata } = film;
  return {
    name: metadata.name ?? "",
    namespace: metadata.namespace ?? "",
    uid: metadata.uid ?? "",
    generation: metadata.generation ?? 0,
    deleting: metadata.deletionTimestamp !== undefined,
    finalizers: metadata.finalizers ?? [],
    // Read whole: the settled head of a long film is written compactly.
    status: expandedStatus(film.status ?? {}),
  };
}
