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

describe("WorkQueue lanes", () => {
  /** Runs the queue until `count` keys were handled; returns them in order, with each one's lane and wait. */
  async function drain(queue: WorkQueue, count: number): Promise<string[]> {
    const seen: string[] = [];
    const abort = new AbortController();
    await queue.run(async (key) => {
      seen.push(key);
      if (seen.length === count) abort.abort();
      return Promise.resolve(done);
    }, abort.signal);
    return seen;
  }

  it("takes hand-off work before routine work queued earlier, each lane first in first out", async () => {
    const { clock } = manualClock();
    const waits: [string, number][] = [];
    const observer = {
      added: () => undefined,
      depth: () => undefined,
      queued: (seconds: number, lane: string) => waits.push([lane, seconds]),
      retried: () => undefined,
      worked: () => undefined,
    };
    const queue = new WorkQueue({ concurrency: 1, baseRetryMs: 10, maxRetryMs: 1000 }, clock, observer);
    for (const key of ["ns/r1", "ns/r2", "ns/r3"]) queue.add(key);
    queue.add("ns/h1", "handoff");
    queue.add("ns/h2", "handoff");
    expect(queue.depth).toBe(5);
    expect(await drain(queue, 5)).toEqual(["ns/h1", "ns/h2", "ns/r1", "ns/r2", "ns/r3"]);
    expect(waits.map(([lane]) => lane)).toEqual(["handoff", "handoff", "routine", "routine", "routine"]);
  });

  it("moves a routine key added again as a hand-off to the front lane, once", async () => {
    const { clock } = manualClock();
    const queue = new WorkQueue({ concurrency: 1, baseRetryMs: 10, maxRetryMs: 1000 }, clock);
    for (const key of ["ns/a", "ns/b", "ns/c"]) queue.add(key);
    queue.add("ns/c", "handoff");
    queue.add("ns/c", "routine");
    expect(queue.depth).toBe(3);
    expect(await drain(queue, 3)).toEqual(["ns/c", "ns/a", "ns/b"]);
  });

  it("runs a key added as a hand-off while it was processed again in the hand-off lane", async () => {
    const { clock } = manualClock();
    const queue = new WorkQueue({ concurrency: 1, baseRetryMs: 10, maxRetryMs: 1000 }, clock);
    const seen: string[] = [];
    const abort = new AbortController();
    queue.add("ns/a");
    const running = queue.run(async (key) => {
      seen.push(key);
      if (key === "ns/a" && seen.length === 1) {
        // While ns/a runs: routine work piles up, and ns/a's segment ends.
        queue.add("ns/b");
        queue.add("ns/c");
        queue.add("ns/a", "routine");
        queue.add("ns/a", "handoff");
      }
      if (seen.length === 4) abort.abort();
      return Promise.resolve(done);
    }, abort.signal);
    await running;
    expect(seen).toEqual(["ns/a", "ns/a", "ns/b", "ns/c"]);
  });

  it("brings a key waiting out a delay forward when it is added as a hand-off", async () => {
    const { clock } = manualClock();
    const queue = new WorkQueue({ concurrency: 1, baseRetryMs: 10, maxRetryMs: 1000 }, clock);
    queue.addAfter("ns/a", 5000);
    queue.add("ns/b");
    queue.add("ns/a", "handoff");
    expect(await drain(queue, 2)).toEqual(["ns/a", "ns/b"]);
  });
});
