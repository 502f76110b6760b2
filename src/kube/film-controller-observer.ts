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
  /** A hand-off's gap as the workers measured it: predecessor's commit to successor's denoising (docs/adr/0026). */
  handoffGap(mode: "warm" | "serial", seconds: number): void;
  /** How many films are in each phase now. */
  filmsByPhase(counts: ReadonlyMap<FilmPhase, number>): void;
  /** Every film's progress now (its status.progress): the films gone since the last call are no longer listed. */
  filmProgress(films: readonly FilmProgress[]): void;
}

/** One film's segments rendered out of planned, as its status says. */
export interface FilmProgress {
  readonly namespace: string;
  readonly name: string;
  readonly rendered: number;
  readonly planned: number;
}

/** A film's progress from its `status.progress` ("12/40"); none before the operator first wrote it. */
export function filmProgressOf(
  namespace: string,
  name: string,
  progress: string | undefined,
): FilmProgress | undefined {
  const match = /^(\d+)\/(\d+)$/.exec(progress ?? "");
  if (!match) return undefined;
  return { namespace, name, rendered: Number(match[1]), planned: Number(match[2]) };
}
