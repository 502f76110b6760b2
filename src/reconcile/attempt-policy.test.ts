import { describe, expect, it } from "vitest";
import { nextAttempt, retryDelayMs } from "./attempt-policy.ts";
import type { LatestAttempt, NextAttempt } from "./attempt-policy.ts";

const retry = { limit: 2, baseDelayMs: 10_000, maxDelayMs: 25_000 };
const nowMs = 1_000_000;
const failed = (attempt: number, secondsAgo: number, failures = attempt + 1): LatestAttempt => ({
  state: "failed",
  attempt,
  failures,
  endedAt: nowMs - secondsAgo * 1000,
});

describe("nextAttempt", () => {
  it.each<{ name: string; latest: LatestAttempt | undefined; suspend?: boolean; expected: NextAttempt }>([
    { name: "nothing tried yet: the first attempt starts", latest: undefined, expected: { kind: "start", attempt: 0 } },
    {
      name: "nothing tried yet while suspended: nothing starts",
      latest: undefined,
      suspend: true,
      expected: { kind: "held" },
    },
    { name: "a running attempt is left to run", latest: { state: "running", attempt: 1 }, expected: { kind: "wait" } },
    {
      name: "a running attempt is left to run even when suspended",
      latest: { state: "running", attempt: 0 },
      suspend: true,
      expected: { kind: "wait" },
    },
    {
      name: "a failure no retry can fix (bad input) gives up at once, budget or not",
      latest: { state: "failed", attempt: 0, failures: 1, endedAt: nowMs - 60_000, retryable: false },
      expected: { kind: "unretryable", failures: 1 },
    },
    {
      name: "a succeeded attempt ends the step",
      latest: { state: "succeeded", attempt: 0 },
      expected: { kind: "done" },
    },
    {
      name: "a failure inside its backoff waits until the backoff ends",
      latest: failed(0, 4),
      expected: { kind: "backoff", retryAt: nowMs + 6_000 },
    },
    {
      name: "a failure past its backoff starts the next attempt",
      latest: failed(0, 10),
      expected: { kind: "start", attempt: 1 },
    },
    {
      name: "the backoff doubles after each failure",
      latest: failed(1, 19),
      expected: { kind: "backoff", retryAt: nowMs + 1_000 },
    },
    {
      name: "a failure past its backoff while suspended starts nothing",
      latest: failed(0, 60),
      suspend: true,
      expected: { kind: "held" },
    },
    {
      name: "the last allowed attempt's failure exhausts the budget",
      latest: failed(2, 600),
      expected: { kind: "exhausted", failures: 3 },
    },
    {
      name: "exhaustion is reported even while suspended",
      latest: failed(2, 0),
      suspend: true,
      expected: { kind: "exhausted", failures: 3 },
    },
  ])("$name", ({ latest, suspend, expected }) => {
    expect(nextAttempt(latest, { retry, suspend: suspend ?? false, nowMs })).toEqual(expected);
  });

  it.each([
    { attempt: 0, ms: 10_000 },
    { attempt: 1, ms: 20_000 },
    { attempt: 2, ms: 25_000 },
    { attempt: 80, ms: 25_000 },
  ])("waits $ms ms after attempt $attempt failed: exponential, capped", ({ attempt, ms }) => {
    expect(retryDelayMs(retry, attempt)).toBe(ms);
  });
});
