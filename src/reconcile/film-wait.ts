/**
 * What holds a film back, when something does, told on the film (Progressing=False with a reason and the
 * cluster's own message) and once in an event: a workspace claim still being deleted, or a pod the scheduler
 * cannot place.
 */
import { ConditionReason, ConditionType, EventReason } from "./film-conditions.ts";
import type { FilmSnapshot, FilmStatus, FollowUpAction } from "./film-snapshot.ts";

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
    message: `waiting for the workspace claim ${claim.name} to finish deleting before a new one is made`,
  };
}

/** A pod of a job the film wants running that the scheduler cannot place, with the scheduler's words. */
export function schedulingWait(snapshot: FilmSnapshot, wanted: ReadonlySet<string>): FilmWait | undefined {
  const pod = snapshot.pods.find((p) => wanted.has(p.jobName) && p.unschedulable !== undefined);
  const job = pod && snapshot.jobs.find((j) => j.name === pod.jobName);
  if (!pod?.unschedulable || !job) return undefined;
  const what = job.kind === "segment" ? `segment ${String(job.segment)}` : "the concatenation";
  return { reason: ConditionReason.Unschedulable, message: `${what} waits for a node: ${pod.unschedulable}` };
}

/** An event the first time a wait is seen (the Progressing condition then says something else). */
export function waitEvent(previous: FilmStatus, wait: FilmWait | undefined): FollowUpAction[] {
  if (!wait) return [];
  const progressing = previous.conditions?.find((c) => c.type === ConditionType.Progressing);
  if (progressing?.reason === wait.reason && progressing.message === wait.message) return [];
  const reason = wait.reason === ConditionReason.Unschedulable ? EventReason.SegmentUnschedulable : wait.reason;
  return [{ kind: "event", type: "Warning", reason, message: wait.message }];
}
