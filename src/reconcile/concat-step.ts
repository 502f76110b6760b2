/** The film's concatenation, once every segment is recorded: run it, retry it, or record the film it wrote. */
import { nextAttempt } from "./attempt-policy.ts";
import type { LatestAttempt } from "./attempt-policy.ts";
import { ConditionReason, EventReason } from "./film-conditions.ts";
import { idleStep } from "./film-step.ts";
import type { FilmStep } from "./film-step.ts";
import type { FilmIntent, FilmSnapshot, FilmStatus, ObservedJob } from "./film-snapshot.ts";
import { concatJobName } from "./object-names.ts";
import { latestConcatJob, latestPod } from "./owned-jobs.ts";
import { segmentResult } from "./segment-result.ts";

export type FilmOutput = NonNullable<FilmStatus["output"]>;

export interface ConcatStep extends FilmStep {
  /** The film, once a concatenation wrote it. */
  readonly output?: FilmOutput;
}

/** `finalDigest`: the last segment's latents digest; a concatenation of another chain is not this film's. */
export function concatStep(snapshot: FilmSnapshot, intent: FilmIntent, finalDigest: string): ConcatStep {
  const job = latestConcatJob(snapshot.jobs, intent.concat.hash, finalDigest);
  const next = nextAttempt(latestConcatAttempt(snapshot, job), {
    retry: intent.retry,
    suspend: intent.suspend,
    nowMs: snapshot.now.getTime(),
  });
  switch (next.kind) {
    case "wait":
      return job ? { wanted: [job.name], then: [] } : idleStep;
    case "held":
      return idleStep;
    case "done":
      return job ? concatenated(snapshot, intent, job) : idleStep;
    case "backoff":
      return { ...idleStep, requeueAfterMs: Math.max(1, next.retryAt - snapshot.now.getTime()) };
    case "exhausted":
    case "unretryable": {
      const failed = job ? failureDetail(snapshot, job) : "concatenation failed";
      return { ...idleStep, failure: { reason: ConditionReason.ConcatenationFailed, message: failed } };
    }
    case "start": {
      const workspaceUid = snapshot.workspaceClaim?.uid ?? "";
      const name = concatJobName(snapshot.film, intent.concat.hash, finalDigest, next.attempt, workspaceUid);
      const which = next.attempt === 0 ? "" : ` attempt ${String(next.attempt + 1)}`;
      const message = `concatenating ${String(intent.segments.length)} segments${which} (${name})`;
      return {
        wanted: [name],
        then: [
          { kind: "createConcatJob", attempt: next.attempt, inputDigest: finalDigest, name, workspaceUid },
          { kind: "event", type: "Normal", reason: EventReason.ConcatenationStarted, message },
        ],
      };
    }
  }
}

function latestConcatAttempt(snapshot: FilmSnapshot, job: ObservedJob | undefined): LatestAttempt | undefined {
  if (!job) return undefined;
  if (!job.finished) return { state: "running", attempt: job.attempt };
  if (job.finished === "Succeeded") return { state: "succeeded", attempt: job.attempt };
  const endedAt = Date.parse(latestPod(snapshot.pods, job)?.finishedAt ?? job.createdAt);
  // Every concatenation attempt that failed counts: a deleted concat job is re-created under its own name.
  return { state: "failed", attempt: job.attempt, failures: job.attempt + 1, endedAt };
}

function failureDetail(snapshot: FilmSnapshot, job: ObservedJob): string {
  const result = segmentResult(latestPod(snapshot.pods, job)?.terminationMessage);
  return result?.error ?? job.failureMessage ?? "concatenation failed";
}

/** The film the succeeded concatenation wrote, as its result reports it (the plan's figures if it does not). */
function concatenated(snapshot: FilmSnapshot, intent: FilmIntent, job: ObservedJob): ConcatStep {
  const result = segmentResult(latestPod(snapshot.pods, job)?.terminationMessage);
  const output: FilmOutput = {
    path: intent.concat.path,
    frames: result?.frames ?? intent.concat.frames,
    seconds: result?.seconds ?? intent.concat.seconds,
    hash: intent.concat.hash,
    ...(result?.contactSheet === undefined ? {} : { contactSheet: result.contactSheet }),
  };
  const message = `film written to ${output.path}: ${String(output.frames)} frames, ${output.seconds.toFixed(2)}s`;
  return {
    ...idleStep,
    output,
    then: [{ kind: "event", type: "Normal", reason: EventReason.FilmConcatenated, message }],
  };
}
