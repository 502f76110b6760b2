/**
 * One attempt policy for everything the operator runs for a film (segments and the concatenation): what to do
 * next given how the latest attempt stands, the retry budget, the backoff and `suspend`.
 */
import type { RetryPolicy } from "./film-snapshot.ts";

/** Where the latest attempt at a step stands. */
export type LatestAttempt =
  | { readonly state: "running"; readonly attempt: number }
  | { readonly state: "succeeded"; readonly attempt: number }
  /** Its job is gone before it ended (deleted by hand, or by anyone): not the attempt's fault. */
  | { readonly state: "lost"; readonly attempt: number }
  /** `failures` counts the failed attempts that count against the budget, this one included. */
  | {
      readonly state: "failed";
      readonly attempt: number;
      readonly failures: number;
      readonly endedAt: number;
      /** False when another attempt would fail the same way (bad input): the step gives up at once. */
      readonly retryable?: boolean;
    };

/** What to do next. */
export type NextAttempt =
  /** The latest attempt is still running (or pending): let it. */
  | { readonly kind: "wait" }
  /** The step is done. */
  | { readonly kind: "done" }
  /** Start this attempt now. */
  | { readonly kind: "start"; readonly attempt: number }
  /** The latest attempt failed; the next may start at `retryAt` (epoch ms). */
  | { readonly kind: "backoff"; readonly retryAt: number }
  /** The latest attempt failed and it was the last one the budget allows. */
  | { readonly kind: "exhausted"; readonly failures: number }
  /** The latest attempt failed in a way no retry can fix. */
  | { readonly kind: "unretryable"; readonly failures: number }
  /** Suspended: nothing new starts. */
  | { readonly kind: "held" };

/** Delay before retry number `attempt + 1` after attempt `attempt` failed: exponential, capped. */
export function retryDelayMs(retry: RetryPolicy, attempt: number): number {
  return Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** Math.min(attempt, 30));
}

/** Whether a step that failed `failures` times (counted) still has a retry in the budget. */
export function retriesLeft(retry: RetryPolicy, failures: number): boolean {
  return failures <= retry.limit;
}

export function nextAttempt(
  latest: LatestAttempt | undefined,
  policy: { readonly retry: RetryPolicy; readonly suspend: boolean; readonly nowMs: number },
): NextAttempt {
  if (latest?.state === "running") return { kind: "wait" };
  if (latest?.state === "succeeded") return { kind: "done" };
  if (latest?.state === "failed" && latest.retryable === false)
    return { kind: "unretryable", failures: latest.failures };
  if (latest?.state === "failed" && !retriesLeft(policy.retry, latest.failures)) {
    return { kind: "exhausted", failures: latest.failures };
  }
  if (policy.suspend) return { kind: "held" };
  if (!latest) return { kind: "start", attempt: 0 };
  // A lost attempt is replaced at once: nothing failed, so there is nothing to back off from.
  if (latest.state === "lost") return { kind: "start", attempt: latest.attempt + 1 };
  const retryAt = latest.endedAt + retryDelayMs(policy.retry, latest.failures - 1);
  if (policy.nowMs < retryAt) return { kind: "backoff", retryAt };
  return { kind: "start", attempt: latest.attempt + 1 };
}
