/** What one step of a film (its next segment, or its concatenation) decided. */
import type { FollowUpAction } from "./film-snapshot.ts";

/** Why a film cannot finish without a change. */
export interface FilmFailure {
  readonly reason: string;
  readonly message: string;
}

export interface FilmStep {
  /** Jobs the step wants running: its running attempt, or the one it creates. Any other active job is stopped. */
  readonly wanted: readonly string[];
  /** Jobs to create and events to post. */
  readonly then: readonly FollowUpAction[];
  /** Look again then (a backoff ending). */
  readonly requeueAfterMs?: number;
  readonly failure?: FilmFailure;
}

export const idleStep: FilmStep = { wanted: [], then: [] };
