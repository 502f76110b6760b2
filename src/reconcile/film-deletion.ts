/** A film being deleted: stop its jobs, keep or delete its workspace as its policy says, then let it go. */
import { filmFinalizer } from "../api/operator-labels.ts";
import { EventReason } from "./film-conditions.ts";
import type { Decision, FilmSnapshot, FollowUpAction } from "./film-snapshot.ts";
import { activeJobs } from "./owned-jobs.ts";

export function deletionDecision(snapshot: FilmSnapshot): Decision {
  const decision = { setup: [], then: [] as FollowUpAction[], facts: { segmentsEnded: [] } };
  if (!snapshot.film.finalizers.includes(filmFinalizer)) return decision;
  // Owner references would collect the jobs once the film is gone; stopping them now frees the GPUs at once.
  const stopJobs = activeJobs(snapshot.jobs).map((job): FollowUpAction => ({ kind: "deleteJob", name: job.name }));
  return { ...decision, then: [...stopJobs, ...workspaceOnDelete(snapshot), { kind: "removeFinalizer" }] };
}

function workspaceOnDelete(snapshot: FilmSnapshot): FollowUpAction[] {
  const claim = snapshot.workspaceClaim;
  // A claim the film does not own (made by hand, or released before) is not the film's to delete.
  if (!claim?.ownedByFilm) return [];
  // An unreadable spec cannot say "delete": keeping rendered work is the safe reading.
  const retain = !snapshot.intent.ok || snapshot.intent.intent.workspace.retainOnDelete;
  if (!retain) return [{ kind: "deleteWorkspace", claimName: claim.name }];
  return [
    { kind: "releaseWorkspace", claimName: claim.name },
    {
      kind: "event",
      type: "Normal",
      reason: EventReason.WorkspaceRetained,
      message: `workspace ${claim.name} is kept: its retention policy is Retain`,
    },
  ];
}
