/**
 * What `longvideo watch` shows of a film: its segments rendered out of planned, the time left until the ETA the
 * operator estimated (counted down here, live, from `status.eta`), and each segment's state with how far a running
 * one has come, judged by the mean time of the segments already rendered. Pure.
 */
import type { LongVideoStatus, SegmentRecord } from "../api/long-video-status.ts";
import { remainingTime } from "../reconcile/remaining-time.ts";
import { durationText } from "./plan-table.ts";

/** A LongVideo as the API returns it, as far as watching reads it. */
export interface WatchedFilm {
  readonly metadata: { readonly name?: string; readonly namespace?: string };
  readonly status?: LongVideoStatus;
}

export interface SegmentView {
  readonly index: number;
  readonly state: string;
  /** 0 to 1: 1 rendered; a running segment's elapsed share of the mean segment time, held below 1. */
  readonly fraction: number;
  /** "rendered in 4s", "running 12s", "pending", "retrying: <why the attempt failed>". */
  readonly detail: string;
}

export interface FilmView {
  /** namespace/name */
  readonly key: string;
  readonly phase: string;
  readonly rendered: number;
  readonly planned: number;
  /** Each chain's "rendered/planned" when keyframes start more than one, in storyline order. */
  readonly chains: readonly string[];
  /** Time left ("4m"), "overdue", or "" without an estimate. */
  readonly eta: string;
  readonly finished: boolean;
  readonly failed: boolean;
  /** The Ready condition's message: what the film is waiting for, why it failed, or where it is. */
  readonly message: string;
  readonly segments: readonly SegmentView[];
}

const seconds = (from: string | undefined, to: number): number | undefined =>
  from === undefined ? undefined : Math.max(0, (to - Date.parse(from)) / 1000);

function meanSeconds(records: readonly SegmentRecord[]): number | undefined {
  const times = records.flatMap((r) =>
    r.state === "Succeeded" && r.startTime && r.finishTime ? [seconds(r.startTime, Date.parse(r.finishTime)) ?? 0] : [],
  );
  return times.length === 0 ? undefined : times.reduce((a, b) => a + b, 0) / times.length;
}

function segmentView(index: number, record: SegmentRecord | undefined, mean: number | undefined, nowMs: number) {
  if (!record) return { index, state: "Pending", fraction: 0, detail: "pending" };
  if (record.state === "Succeeded") {
    const took = record.finishTime ? seconds(record.startTime, Date.parse(record.finishTime)) : undefined;
    return {
      index,
      state: record.state,
      fraction: 1,
      detail: took === undefined ? "rendered" : `rendered in ${durationText(took)}`,
    };
  }
  if (record.state === "Running") {
    const elapsed = seconds(record.startTime, nowMs) ?? 0;
    const fraction = mean === undefined || mean === 0 ? 0 : Math.min(0.95, elapsed / mean);
    return { index, state: record.state, fraction, detail: `running ${durationText(elapsed)}` };
  }
  const why = record.message === undefined ? "" : `: ${record.message}`;
  return { index, state: record.state, fraction: 0, detail: `${record.state.toLowerCase()}${why}` };
}

/** The film as `watch` shows it at `nowMs`. */
export function filmView(film: WatchedFilm, nowMs: number): FilmView {
  const status = film.status ?? {};
  const [rendered, planned] = (status.progress ?? "0/0").split("/").map(Number);
  const records = new Map((status.segments ?? []).map((r) => [r.index, r]));
  const mean = meanSeconds(status.segments ?? []);
  const phase = status.phase ?? "Pending";
  const ready = status.conditions?.find((c) => c.type === "Ready");
  return {
    key: `${film.metadata.namespace ?? ""}/${film.metadata.name ?? ""}`,
    phase,
    rendered: rendered ?? 0,
    planned: planned ?? 0,
    chains: (status.chains ?? []).map((chain) => chain.progress),
    eta: status.eta === undefined || phase !== "Rendering" ? "" : remainingTime(Date.parse(status.eta), nowMs).text,
    finished: phase === "Succeeded" || phase === "Failed",
    failed: phase === "Failed",
    message: ready?.message ?? "",
    segments: Array.from({ length: planned ?? 0 }, (_, index) => segmentView(index, records.get(index), mean, nowMs)),
  };
}

/** One line per film, for the end of a watch and for terminals without bars. */
export function filmLine(view: FilmView): string {
  const eta = view.eta === "" ? "" : ` ETA ${view.eta}`;
  const message = view.message === "" ? "" : `: ${view.message}`;
  const chains = view.chains.length === 0 ? "" : ` (chains ${view.chains.join(" ")})`;
  return `${view.key} ${view.phase} ${String(view.rendered)}/${String(view.planned)}${chains}${eta}${message}`;
}
