/** A film being deleted: stop its jobs, keep or delete its workspace as its policy says, then let it go. */
import { filmFinalizer } from "../api/operator-labels.ts";
import { EventReason } from "./film-conditions.ts";
import type { Decision, FilmSnapshot, FollowUpAction } from "./film-snapshot.ts";

export function deletionDecision(snapshot: FilmSnapshot): Decision {
  const decision = { setup: [], then: [] as FollowUpAction[], facts: { segmentsEnded: [] } };
  if (!snapshot.film.finalizers.includes(filmFinalizer)) return decision;
  // Every job goes, finished ones too: owner references would collect them once the film is gone, but not when
  // the film is deleted with --cascade=orphan, and their ended pods would then hold the workspace claim (its
  // protection finalizer) for ever. Stopping the running ones now also frees their GPUs at once.
  const stopJobs = snapshot.jobs
    .filter((job) => !job.deleting)
    .map((job): FollowUpAction => ({ kind: "deleteJob", name: job.name, uid: job.uid }));
  return { ...decision, then: [...stopJobs, ...workspaceOnDelete(snapshot), { kind: "removeFinalizer" }] };
}

function workspaceOnDelete(snapshot: FilmSnapshot): FollowUpAction[] {
  const claim = snapshot.workspaceClaim;
  // A claim the film does not own (made by hand, or released before) is not the film's to delete.
  if (!claim?.ownedByFilm) return [];
  // An unreadable spec cannot say "delete": keeping rendered work is the safe reading.
  const retain = !snapshot.intent.ok || snapshot.intent.intent.workspace.retainOnDelete;
  if (!retain) return [{ kind: "deleteWorkspace", claimName: claim.name, uid: claim.uid }];
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
