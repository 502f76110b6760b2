/**
 * What the film's workspace claim vouches for. Clips and hand-offs live in the claim; a claim deleted and made
 * again is empty, so the records of segments rendered into the old one, and the jobs made for it, say nothing
 * about the new one. Records carry the claim's UID (status.workspaceClaimUID) and jobs theirs (an annotation).
 */
import { EventReason } from "./film-conditions.ts";
import type { FilmSnapshot, FollowUpAction, ObservedJob } from "./film-snapshot.ts";

export interface WorkspaceScope {
  /** The snapshot without the jobs and records of another claim. */
  readonly snapshot: FilmSnapshot;
  /** Jobs made for another claim that still run: let go. */
  readonly then: readonly FollowUpAction[];
}

export function workspaceScope(snapshot: FilmSnapshot): WorkspaceScope {
  const claim = snapshot.workspaceClaim;
  const uid = claim?.uid ?? "";
  // A job made before jobs recorded their claim belongs to whatever claim the film has.
  const current = (job: ObservedJob) => job.workspaceUid === undefined || job.workspaceUid === uid;
  // The film's own claim being deleted (by hand) goes only once no pod refers to it, finished or not: its jobs,
  // whose results it held, are let go with their pods.
  const releasing = claim?.deleting === true && claim.ownedByFilm;
  const stale = snapshot.jobs.filter((job) => !job.deleting && (releasing || (!current(job) && !job.finished)));
  const deletes = stale.map((job): FollowUpAction => ({ kind: "deleteJob", name: job.name, uid: job.uid }));
  const recorded = snapshot.film.status.workspaceClaimUID;
  const replaced = claim !== undefined && uid !== "" && recorded !== undefined && recorded !== uid;
  const jobs = snapshot.jobs.filter(current);
  if (!replaced) return { snapshot: { ...snapshot, jobs }, then: deletes };
  // Nothing of the old claim is left: no records, no film.
  const status = { ...snapshot.film.status };
  delete status.output;
  const rendered = (status.segments ?? []).filter((r) => r.state === "Succeeded").length;
  const message = `the workspace claim ${claim.name} is not the one ${String(rendered)} recorded segment(s) were rendered into (it was deleted and made again, empty): re-rendering from segment 0`;
  return {
    snapshot: { ...snapshot, jobs, film: { ...snapshot.film, status: { ...status, segments: [] } } },
    then: [...deletes, { kind: "event", type: "Warning", reason: EventReason.WorkspaceReplaced, message }],
  };
}
