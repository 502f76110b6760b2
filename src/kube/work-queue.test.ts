import { describe, expect, it } from "vitest";
import { WorkQueue } from "./work-queue.ts";
import type { QueueClock, WorkOutcome } from "./work-queue.ts";

/** A clock whose time moves only when the test says so. */
function manualClock() {
  let now = 0;
  const timers: { at: number; callback: () => void; cancelled: boolean }[] = [];
  const clock: QueueClock = {
    now: () => now,
    setTimeout: (callback, ms) => {
      const timer = { at: now + ms, callback, cancelled: false };
      timers.push(timer);
      return {
        cancel: () => {
          timer.cancelled = true;
        },
      };
    },
  };
  const advance = (ms: number) => {
    now += ms;
    for (const timer of timers.filter((t) => !t.cancelled && t.at <= now)) {
      timer.cancelled = true;
      timer.callback();
    }
  };
  return { clock, advance };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));
const done: WorkOutcome = { kind: "done" };

describe("WorkQueue", () => {
  it("deduplicates a key that is already queued", async () => {
    const { clock } = manualClock();
    const queue = new WorkQueue({ concurrency: 1, baseRetryMs: 10, maxRetryMs: 1000 }, clock);
    queue.add("ns/a");
    queue.add("ns/a");
    queue.add("ns/b");
    expect(queue.depth).toBe(2);
    const seen: string[] = [];
    const abort = new AbortController();
    const running = queue.run(async (key) => {
      seen.push(key);
      if (seen.length === 2) abort.abort();
      return Promise.resolve(done);
    }, abort.signal);
    await running;
    expect(seen).toEqual(["ns/a", "ns/b"]);
  });

  it("never runs one key on two workers, and runs it again when it was added meanwhile", async () => {
    const { clock } = manualClock();
    const queue = new WorkQueue({ concurrency: 4, baseRetryMs: 10, maxRetryMs: 1000 }, clock);
    let active = 0;
    let maxActive = 0;
    let runs = 0;
    const abort = new AbortController();
    const release: (() => void)[] = [];
    const running = queue.run(async () => {
      active += 1;
      runs += 1;
      maxActive = Math.max(maxActive, active);
      await new Promise<void>((resolve) => release.push(resolve));
      active -= 1;
      return done;
    }, abort.signal);
    queue.add("ns/a");
    await tick();
    queue.add("ns/a");
    queue.add("ns/a");
    await tick();
    expect(runs).toBe(1);
    release.shift()?.();
    await tick();
    await tick();
    expect(runs).toBe(2);
    release.shift()?.();
    await tick();
    expect(maxActive).toBe(1);
    expect(runs).toBe(2);
    abort.abort();
    await running;
  });

  it("processes different keys concurrently up to the configured limit", async () => {
    const { clock } = manualClock();
    const queue = new WorkQueue({ concurrency: 2, baseRetryMs: 10, maxRetryMs: 1000 }, clock);
    let active = 0;
    let maxActive = 0;
    const abort = new AbortController();
    const release: (() => void)[] = [];
    const running = queue.run(async () => {
      active += 1;
      maxActive = Math.max(maxActive, active);
      await new Promise<void>((resolve) => release.push(resolve));
      active -= 1;
      return done;
    }, abort.signal);
    for (const key of ["a", "b", "c", "d"]) queue.add(key);
    await tick();
    expect(active).toBe(2);
    while (release.length > 0 || queue.depth > 0) {
      release.shift()?.();
      await tick();
    }
    expect(maxActive).toBe(2);
    abort.abort();
    await running;
  });

  it("retries a failing key with exponential backoff, capped, and resets after success", async () => {
    const { clock, advance } = manualClock();
    const queue = new WorkQueue({ concurrency: 1, baseRetryMs: 100, maxRetryMs: 350 }, clock);
    const attempts: number[] = [];
    let fail = 4;
    const abort = new AbortController();
    const running = queue.run(async () => {
      attempts.push(clock.now());
      if (fail-- > 0) throw new Error("conflict");
      return Promise.resolve(done);
    }, abort.signal);
    queue.add("ns/a");
    await tick();
    for (const step of [100, 200, 350, 350]) {
      advance(step - 1);
      await tick();
      const before = attempts.length;
      advance(1);
      await tick();
      expect(attempts.length).toBe(before + 1);
    }
    expect(attempts).toEqual([0, 100, 300, 650, 1000]);
    expect(queue.failures("ns/a")).toBe(0);
    expect(queue.retryDelay("ns/a")).toBe(100);
    abort.abort();
    await running;
  });

  it("requeues after the delay a handler asks for, keeping the earliest of two delays", () => {
    const { clock, advance } = manualClock();
    const queue = new WorkQueue({ concurrency: 1, baseRetryMs: 10, maxRetryMs: 1000 }, clock);
    queue.addAfter("ns/a", 500);
    queue.addAfter("ns/a", 200);
    queue.addAfter("ns/a", 900);
    advance(199);
    expect(queue.depth).toBe(0);
    advance(1);
    expect(queue.depth).toBe(1);
    advance(1000);
    expect(queue.depth).toBe(1);
  });

  it("stops taking work on abort and waits for handlers in flight", async () => {
    const { clock } = manualClock();
    const queue = new WorkQueue({ concurrency: 1, baseRetryMs: 10, maxRetryMs: 1000 }, clock);
    const abort = new AbortController();
    let finished = false;
    let release: () => void = () => undefined;
    const running = queue.run(async () => {
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      finished = true;
      return done;
    }, abort.signal);
    queue.add("a");
    queue.add("b");
    await tick();
    abort.abort();
    let settled = false;
    void running.then(() => (settled = true));
    await tick();
    expect(settled).toBe(false);
    release();
    await running;
    expect(finished).toBe(true);
  });
});
