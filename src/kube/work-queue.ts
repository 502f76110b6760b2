/**
 * A rate-limited work queue keyed by object, with client-go's guarantees: a key is queued at most once, never
 * processed by two workers at once (a key added while it is being processed runs again afterwards), retried
 * with exponential per-key backoff, and processed by a bounded number of workers across keys.
 *
 * Two lanes, as controller-runtime's priority queue has priorities: a key added to the `handoff` lane (a film whose
 * segment just ended, so its successor waits) is taken before every key of the `routine` lane (resyncs, status
 * echoes, retries), and a routine key added again as a hand-off moves up. Within a lane, first in, first out.
 */

/** `handoff`: work that unblocks a waiting successor; `routine`: everything else. */
export type QueueLane = "handoff" | "routine";

/** Time source and timers, injected so tests control time. */
export interface QueueClock {
  now(): number;
  setTimeout(callback: () => void, ms: number): { cancel(): void };
}

export const systemQueueClock: QueueClock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => {
    const timer = setTimeout(callback, ms);
    return {
      cancel: () => {
        clearTimeout(timer);
      },
    };
  },
};

/** Receives the queue's measurements (workqueue_* metrics) without the queue knowing about Prometheus. */
export interface WorkQueueObserver {
  added(): void;
  depth(depth: number): void;
  /** Seconds a key waited between being queued (in its lane) and picked up. */
  queued(seconds: number, lane: QueueLane): void;
  retried(): void;
  /** Seconds a handler took. */
  worked(seconds: number): void;
}

export const silentQueueObserver: WorkQueueObserver = {
  added: () => undefined,
  depth: () => undefined,
  queued: () => undefined,
  retried: () => undefined,
  worked: () => undefined,
};

/** What a handler tells the queue about one key. */
export type WorkOutcome =
  | { readonly kind: "done" }
  | { readonly kind: "requeueAfter"; readonly ms: number }
  | { readonly kind: "retry"; readonly error: unknown };

export interface WorkQueueOptions {
  readonly concurrency: number;
  readonly baseRetryMs: number;
  readonly maxRetryMs: number;
}

export class WorkQueue {
  readonly #options: WorkQueueOptions;
  readonly #clock: QueueClock;
  readonly #observer: WorkQueueObserver;
  /** Keys waiting for a worker, per lane, in order; when each was queued and in which lane. */
  readonly #lanes: Record<QueueLane, string[]> = { handoff: [], routine: [] };
  readonly #queuedAt = new Map<string, { readonly at: number; readonly lane: QueueLane }>();
  /** Keys being processed now; a key added meanwhile is marked dirty and queued again when it finishes. */
  readonly #processing = new Set<string>();
  readonly #dirty = new Map<string, QueueLane>();
  readonly #failures = new Map<string, number>();
  readonly #delayed = new Map<string, { at: number; cancel(): void }>();
  /** Idle workers, each woken by one added key. */
  readonly #idle: (() => void)[] = [];
  #shuttingDown = false;

  constructor(options: WorkQueueOptions, clock: QueueClock = systemQueueClock, observer = silentQueueObserver) {
    if (options.concurrency < 1) throw new Error("concurrency must be at least 1");
    this.#options = options;
    this.#clock = clock;
    this.#observer = observer;
  }

  /**
   * Queues a key now, in `lane`. Already queued: no-op, except that a routine key added as a hand-off moves to the
   * hand-off lane. Being processed: it runs once more afterwards, in the higher of the lanes it was added in.
   */
  add(key: string, lane: QueueLane = "routine"): void {
    if (this.#shuttingDown) return;
    this.#cancelDelayed(key);
    if (this.#processing.has(key)) {
      this.#dirty.set(key, higher(this.#dirty.get(key), lane));
      return;
    }
    const queued = this.#queuedAt.get(key);
    if (queued !== undefined) {
      if (queued.lane === "routine" && lane === "handoff") {
        const routine = this.#lanes.routine;
        routine.splice(routine.indexOf(key), 1);
        this.#lanes.handoff.push(key);
        this.#queuedAt.set(key, { at: this.#clock.now(), lane });
      }
      return;
    }
    this.#lanes[lane].push(key);
    this.#queuedAt.set(key, { at: this.#clock.now(), lane });
    this.#observer.added();
    this.#observer.depth(this.depth);
    this.#idle.shift()?.();
  }

  /** Queues a key after a delay; an earlier pending delay for the same key wins. */
  addAfter(key: string, ms: number): void {
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.#clock.now() + ms;
    const pending = this.#delayed.get(key);
    if (pending && pending.at <= at) return;
    pending?.cancel();
    const timer = this.#clock.setTimeout(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, ms);
    this.#delayed.set(key, {
      at,
      cancel: () => {
        timer.cancel();
      },
    });
  }

  /** The backoff the next failure of `key` will wait: base * 2^failures, capped. */
  retryDelay(key: string): number {
    const failures = this.#failures.get(key) ?? 0;
    return Math.min(this.#options.maxRetryMs, this.#options.baseRetryMs * 2 ** Math.min(failures, 30));
  }

  get depth(): number {
    return this.#lanes.handoff.length + this.#lanes.routine.length;
  }

  /** Failures recorded for a key since its last success. */
  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  #cancelDelayed(key: string): void {
    this.#delayed.get(key)?.cancel();
    this.#delayed.delete(key);
  }

  async #next(): Promise<string | undefined> {
    for (;;) {
      if (this.#shuttingDown) return undefined;
      const key = this.#lanes.handoff.shift() ?? this.#lanes.routine.shift();
      if (key !== undefined) {
        const queued = this.#queuedAt.get(key) ?? { at: this.#clock.now(), lane: "routine" };
        this.#queuedAt.delete(key);
        this.#observer.depth(this.depth);
        this.#observer.queued((this.#clock.now() - queued.at) / 1000, queued.lane);
        this.#processing.add(key);
        return key;
      }
      await new Promise<void>((resolve) => {
        this.#idle.push(resolve);
      });
    }
  }

  #finish(key: string, outcome: WorkOutcome): void {
    this.#processing.delete(key);
    switch (outcome.kind) {
      case "done":
        this.#failures.delete(key);
        break;
      case "requeueAfter":
        this.#failures.delete(key);
        this.addAfter(key, outcome.ms);
        break;
      case "retry": {
        const delay = this.retryDelay(key);
        this.#failures.set(key, (this.#failures.get(key) ?? 0) + 1);
        this.#observer.retried();
        this.addAfter(key, delay);
        break;
      }
    }
    const dirty = this.#dirty.get(key);
    if (dirty !== undefined) {
      this.#dirty.delete(key);
      this.add(key, dirty);
    }
  }

  /**
   * Processes keys with `concurrency` workers until `signal` aborts; resolves once in-flight handlers finish.
   * A handler that throws is treated as a retry: the queue must never lose a key.
   */
  async run(handler: (key: string) => Promise<WorkOutcome>, signal: AbortSignal): Promise<void> {
    const stop = () => {
      this.#shuttingDown = true;
      for (const key of [...this.#delayed.keys()]) this.#cancelDelayed(key);
      for (const wake of this.#idle.splice(0)) wake();
    };
    if (signal.aborted) stop();
    signal.addEventListener("abort", stop, { once: true });
    const worker = async (): Promise<void> => {
      for (;;) {
        const key = await this.#next();
        if (key === undefined) return;
        const started = this.#clock.now();
        let outcome: WorkOutcome;
        try {
          outcome = await handler(key);
        } catch (error) {
          outcome = { kind: "retry", error };
        }
        this.#observer.worked((this.#clock.now() - started) / 1000);
        this.#finish(key, outcome);
      }
    };
    await Promise.all(Array.from({ length: this.#options.concurrency }, worker));
  }
}

function higher(a: QueueLane | undefined, b: QueueLane): QueueLane {
  return a === "handoff" || b === "handoff" ? "handoff" : "routine";
}
