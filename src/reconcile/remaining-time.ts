/**
 * The time left until a film's ETA as `kubectl get lv` shows it: a relative "4m" that the operator writes into
 * `status.remaining`. kubectl's `date` column renders a future time as "<invalid>" (apimachinery's HumanDuration
 * only counts time since), so the text is written by the operator, coarsely enough that it changes at most once a
 * minute: minutes up to an hour, ten minutes up to a day, hours beyond, always rounded up so it never promises
 * more than the estimate (docs/adr/0018-cli-relative-eta-and-local-leases.md).
 */

const minute = 60_000;
const hour = 60 * minute;
const day = 24 * hour;

export interface RemainingTime {
  /** "4m", "2h10m", "1d3h", or "overdue" once the ETA has passed. */
  readonly text: string;
  /** When `text` next changes, in milliseconds from now; absent once it no longer changes. */
  readonly changesInMs?: number;
}

/** The step the remaining time is rounded up to: finer as the ETA nears. */
function step(ms: number): number {
  if (ms <= hour) return minute;
  if (ms <= day) return 10 * minute;
  return hour;
}

function spelled(ms: number): string {
  const days = Math.floor(ms / day);
  const hours = Math.floor((ms % day) / hour);
  const minutes = Math.floor((ms % hour) / minute);
  if (days > 0) return hours > 0 ? `${String(days)}d${String(hours)}h` : `${String(days)}d`;
  if (hours > 0) return minutes > 0 ? `${String(hours)}h${String(minutes)}m` : `${String(hours)}h`;
  return `${String(minutes)}m`;
}

/** The remaining time from `nowMs` to `etaMs`, and when its text changes. */
export function remainingTime(etaMs: number, nowMs: number): RemainingTime {
  const left = etaMs - nowMs;
  if (left <= 0) return { text: "overdue" };
  const unit = step(left);
  const rounded = Math.ceil(left / unit) * unit;
  // The text changes when the time left falls to the next step down; at that instant it is spelled anew.
  return { text: spelled(rounded), changesInMs: left - (rounded - unit) };
}
