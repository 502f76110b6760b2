/**
 * What holds a film back, when something does, told on the film (Ready=False and Progressing=False with a reason
 * and the cluster's own message) and once in an event: a workspace claim still being deleted, an object the API
 * server refuses, a pod the Job controller cannot create, the scheduler cannot place, the kubelet cannot start,
 * or whose node was lost.
 */
import { ConditionReason, ConditionType, EventReason } from "./film-conditions.ts";
import type {
  EventType,
  FilmSnapshot,
  FilmStatus,
  FollowUpAction,
  KueueAdmission,
  ObservedJob,
  ObservedPod,
} from "./film-snapshot.ts";

export interface FilmWait {
  readonly reason: string;
  readonly message: string;
}

/**
 * A claim of the workspace's name that is being deleted (an earlier film's of the same name, or one deleted by
 * hand) would hold a new pod Pending, and the pod would hold the claim (its protection finalizer) for ever: no pod
 * may start until it is gone. Its deletion queues the film again.
 */
export function workspaceWait(snapshot: FilmSnapshot): FilmWait | undefined {
  const claim = snapshot.workspaceClaim;
  if (!claim?.deleting) return undefined;
  return {
    reason: ConditionReason.WorkspaceTerminating,
    message: claim.ownedByFilm
      ? `waiting for the workspace claim ${claim.name} to finish deleting (its jobs, whose pods hold it, are deleted) before a new one is made`
      : `waiting for the workspace claim ${claim.name} to finish deleting before a new one is made`,
  };
}

/** An object the film needs that the API server refused to create, in the API server's words. */
export function refusalWait(snapshot: FilmSnapshot): FilmWait | undefined {
  const { refusal } = snapshot;
  if (!refusal) return undefined;
  return {
    reason: ConditionReason.CreateRefused,
    message: `the API server refused to create ${refusal.object} (retried with backoff): ${refusal.message}`,
  };
}

/**
 * What holds up a job the film wants running, most fundamental first: it waits in its Kueue queue; its pod
 * cannot be created; its node is lost; no node fits it; its container cannot start.
 */
export function podWait(snapshot: FilmSnapshot, wanted: ReadonlySet<string>): FilmWait | undefined {
  // A warm Job still waiting for the attempt it follows holds nothing back: the film renders that attempt. Once
  // it is the segment's attempt (its input known), what holds it up holds the film.
  const jobs = snapshot.jobs.filter(
    (j) => wanted.has(j.name) && !j.finished && !(j.inputFrom !== undefined && j.inputDigest === ""),
  );
  for (const job of jobs) {
    const pods = snapshot.pods.filter((p) => p.jobName === job.name);
    const wait = jobWait(job, pods);
    if (wait) return wait;
  }
  return undefined;
}

function jobWait(job: ObservedJob, pods: readonly ObservedPod[]): FilmWait | undefined {
  const what =
    job.kind === "segment"
      ? `segment ${String(job.segment)}`
      : job.kind === "probe"
        ? "the probe of the film's inputs"
        : "the concatenation";
  const live = pods.filter((p) => p.phase !== "Succeeded" && p.phase !== "Failed");
  if (inQueue(job, live)) return { reason: ConditionReason.Queued, message: queuedMessage(what, job.admission) };
  if (job.podRefused !== undefined && live.length === 0) {
    return { reason: ConditionReason.PodRefused, message: `${what}: its pod cannot be created: ${job.podRefused}` };
  }
  const lost = live.find((p) => p.nodeLost !== undefined);
  if (lost?.nodeLost !== undefined) {
    const node = lost.nodeName ?? "its node";
    return { reason: ConditionReason.NodeLost, message: `${what} runs on ${node}, which is lost: ${lost.nodeLost}` };
  }
  const unplaced = live.find((p) => p.unschedulable !== undefined);
  if (unplaced?.unschedulable !== undefined) {
    return { reason: ConditionReason.Unschedulable, message: `${what} waits for a node: ${unplaced.unschedulable}` };
  }
  const blocked = live.find((p) => p.blocked !== undefined)?.blocked;
  if (blocked) {
    return {
      reason: ConditionReason.ContainerCannotStart,
      message: `${what}: its container cannot start (${blocked.reason}): ${blocked.message}`,
    };
  }
  return undefined;
}

/**
 * Suspended with no pod left running, or evicted by Kueue: an evicted job's pod is on its way out (the Job
 * controller deletes it once Kueue suspends the Job).
 */
function inQueue(job: ObservedJob, live: readonly ObservedPod[]): boolean {
  const evicted = job.admission?.evicted !== undefined && !job.admission.admitted;
  return evicted || (job.suspended !== undefined && live.every((p) => p.deleting));
}

/** In Kueue's words, from the job's Workload: why it is not admitted, and whether Kueue evicted it. */
function queuedMessage(what: string, admission: KueueAdmission | undefined): string {
  if (!admission) {
    return `${what} waits in its queue for admission (its Job is suspended until Kueue admits it); no Kueue Workload is seen for it yet`;
  }
  const workload = `Workload ${admission.workload}`;
  if (admission.admitted) return `${what} is admitted by Kueue (${workload}) and about to start`;
  const pending = admission.pending ?? "not admitted yet";
  if (admission.evicted !== undefined) {
    return `${what} was evicted by Kueue (${admission.evicted}) and waits in its queue for admission again: ${workload}: ${pending}`;
  }
  return `${what} waits in its queue for admission: ${workload}: ${pending}`;
}

/** Waiting in a queue is how a queue works, not a fault: told, but not as a warning. */
const eventTypes: Readonly<Record<string, EventType>> = { [ConditionReason.Queued]: "Normal" };

const eventReasons: Readonly<Record<string, string>> = {
  [ConditionReason.Unschedulable]: EventReason.SegmentUnschedulable,
};

/** An event the first time a wait is seen (the Progressing condition then says something else). */
export function waitEvent(previous: FilmStatus, wait: FilmWait | undefined): FollowUpAction[] {
  if (!wait) return [];
  const progressing = previous.conditions?.find((c) => c.type === ConditionType.Progressing);
  if (progressing?.reason === wait.reason && progressing.message === wait.message) return [];
  return [
    {
      kind: "event",
      type: eventTypes[wait.reason] ?? "Warning",
      reason: eventReasons[wait.reason] ?? wait.reason,
      message: wait.message,
    },
  ];
}
