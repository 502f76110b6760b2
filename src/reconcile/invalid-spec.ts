/**
 * A film whose spec the operator cannot use (the API server accepted it under a laxer schema, or a rule only the
 * operator can check failed) or may not use (it asks for more than its film policy allows): report the fields on
 * the film, once per generation, and create nothing. Everything already rendered stays recorded, so fixing the
 * spec (or the policy) resumes from it. An audio track or skeleton video the probe cannot read is reported the same
 * way (InputUnreadable): a corrected source is read again, and the film resumes; so is a model cache missing files
 * (ModelCacheIncomplete), checked again with backoff.
 */
import { ConditionReason, ConditionType, EventReason, mergedConditions } from "./film-conditions.ts";
import type { ConditionDraft } from "./film-conditions.ts";
import type { Decision, FilmSnapshot, FilmStatus, FollowUpAction, SetupAction } from "./film-snapshot.ts";
import { statusChanged } from "./film-status.ts";

export function invalidSpecDecision(
  snapshot: FilmSnapshot,
  refusal: {
    readonly reason: "InvalidSpec" | "PolicyRefused" | "InputUnreadable" | "ModelCacheIncomplete";
    readonly errors: readonly { readonly path: string; readonly message: string }[];
  },
  setup: readonly SetupAction[],
): Decision {
  const { film } = snapshot;
  const { errors } = refusal;
  const reason = ConditionReason[refusal.reason];
  const message = errors.map((e) => `${e.path}: ${e.message}`).join("; ");
  const previousReady = film.status.conditions?.find((c) => c.type === ConditionType.Ready);
  const alreadyReported =
    film.status.observedGeneration === film.generation &&
    previousReady?.reason === reason &&
    previousReady.message === message;
  const then: FollowUpAction[] = alreadyReported
    ? []
    : [{ kind: "event", type: "Warning", reason: EventReason[refusal.reason], message }];
  const drafts: ConditionDraft[] = [
    { type: ConditionType.Ready, status: "False", reason, message },
    { type: ConditionType.Progressing, status: "False", reason, message },
  ];
  const status: FilmStatus = {
    ...film.status,
    observedGeneration: film.generation,
    phase: film.status.phase ?? "Pending",
    conditions: mergedConditions(film.status.conditions ?? [], drafts, snapshot.now.toISOString(), film.generation),
  };
  return {
    setup,
    ...(statusChanged(film.status, status) ? { status } : {}),
    then,
    facts: { segmentsEnded: [] },
  };
}
