/**
 * What the film controller reports as it works, for metrics: the controller calls these and knows nothing of
 * Prometheus (src/metrics implements them, as it does {@link WorkQueueObserver} and the REST client's observer).
 */
import type { FilmPhase, SegmentOutcome } from "../reconcile/film-snapshot.ts";

/** Every outcome of one reconcile, as controller-runtime labels it (`result` of `controller_runtime_reconcile_total`). */
export const reconcileResults = ["success", "error", "requeue", "requeue_after"] as const;
export type ReconcileResult = (typeof reconcileResults)[number];

export interface FilmControllerObserver {
  /** A reconcile ended, how, after how long. */
  reconciled(result: ReconcileResult, seconds: number): void;
  /** A segment attempt ended, seen for the first time: how, its run time, and the GPUs it held. */
  segmentEnded(
    outcome: SegmentOutcome,
    seconds: number,
    backend: string,
    gpus: { readonly resource: string; readonly count: number },
  ): void;
  /** A successor's job was created this long after its predecessor was first seen to end. */
  handedOff(seconds: number): void;
  /** How many films are in each phase now. */
  filmsByPhase(counts: ReadonlyMap<FilmPhase, number>): void;
}
