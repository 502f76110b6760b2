/** A film's phase, from what its decision found: the first rule that holds wins. */
import type { FilmPhase } from "./film-snapshot.ts";

export interface PhaseFacts {
  readonly failed: boolean;
  /** The film was written. */
  readonly written: boolean;
  readonly suspend: boolean;
  /** A job is running or being created. */
  readonly running: boolean;
  readonly concatenating: boolean;
  /** At least one segment is recorded. */
  readonly started: boolean;
  /** The job the film waits on is suspended in its Kueue queue, and nothing of the film runs. */
  readonly queued?: boolean;
}

export function filmPhase(facts: PhaseFacts): FilmPhase {
  if (facts.failed) return "Failed";
  if (facts.written) return "Succeeded";
  // Suspension takes effect at a boundary: a running job finishes first.
  if (facts.suspend && !facts.running) return "Suspended";
  if (facts.queued) return "Queued";
  if (facts.concatenating) return "Concatenating";
  if (facts.started || facts.running) return "Rendering";
  return "Pending";
}
