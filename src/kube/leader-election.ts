/**
 * Leader election on a coordination.k8s.io Lease, with client-go's rules: a candidate takes the lease only after
 * it has seen the same record unchanged for a whole lease duration (local observation time, so clocks need not
 * agree), writes with optimistic concurrency (the resourceVersion makes two simultaneous takers impossible), and a
 * leader that cannot renew within the renew deadline stops acting before anyone else may start.
 *
 * Two things make that last promise hold when the connection to the API server hangs rather than fails: every
 * lease request is given up after a request timeout, and leadership ends by a timer at the deadline, whatever
 * requests are still out. All lease timing is on a monotonic clock (docs/adr/0013-fenced-leadership.md).
 */
import type { KubeClient, KubeError, KubeResult, RequestOptions } from "./kube-client.ts";

export interface LeaderElectionOptions {
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
}

export interface LeaderElectionLog {
  acquired(identity: string): void;
  lost(identity: string, reason: string): void;
  failed(error: KubeError): void;
}

/** The one request method the elector uses (KubeClient's), so tests can answer it. */
export type LeaseClient = Pick<KubeClient, "request">;

/** The elector's clocks, in milliseconds, injected so tests control time. */
export interface ElectionClock {
  /** Monotonic (never jumps): every lease timing, the renew deadline and a record's expiry. */
  now(): number;
  /** Wall-clock time since the epoch: only the Lease's acquireTime and renewTime, which humans and tools read. */
  wallNow(): number;
}

export const systemElectionClock: ElectionClock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
};

/** One period of leading, as the elector hands it to what acts while it lasts. */
export interface Leadership {
  /** Aborts the moment the period ends: the renew deadline passed, another holder was seen, or shutdown. */
  readonly signal: AbortSignal;
  /**
   * True while the period lasts. Reads the deadline from the clock, so that a timer firing late (a busy event
   * loop) cannot stretch the period for whoever asks.
   */
  holds(): boolean;
}

/** Leadership for a replica that does not elect: it lasts until `signal` aborts. */
export function leadershipUntil(signal: AbortSignal): Leadership {
  return { signal, holds: () => !signal.aborted };
}

/** Called when this replica leads; `leadership.signal` aborts the moment leadership is lost or the process stops. */
export type LeadingCallback = (leadership: Leadership) => void;

/**
 * How long one lease request may take while campaigning: at most half the renew deadline, so that a hung request
 * leaves room for another attempt before it, and otherwise the retry period, but not under a second (a slow API
 * server under load still answers). A leader gives its renewals longer: see {@link renewTimeoutMs}.
 */
export function leaseRequestTimeoutMs(options: Pick<LeaderElectionOptions, "renewDeadlineMs" | "retryPeriodMs">) {
  return Math.min(options.renewDeadlineMs / 2, Math.max(1000, options.retryPeriodMs));
}

/**
 * How long a leader's renewal may take, `remainingMs` before its renew deadline: all of it but one campaign
 * request's timeout, which is left so that a renewal hung on a dead connection still leaves time for one more on a
 * fresh one; never less than a campaign request. An API server saturated by the operator's own writes answers in
 * seconds, not within one retry period: cutting renewals off at the campaign timeout (2 s by default) lost the
 * lease under a burst of 2000 films while the API server was in fact answering (docs/adr/0013-fenced-leadership.md).
 */
export function renewTimeoutMs(
  options: Pick<LeaderElectionOptions, "renewDeadlineMs" | "retryPeriodMs">,
  remainingMs: number,
): number {
  const campaign = leaseRequestTimeoutMs(options);
  return Math.max(campaign, remainingMs - campaign);
}

interface Lease {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(finish, ms);
    function finish() {
      clearTimeout(timer);
      signal.removeEventListener("abort", finish);
      resolve();
    }
    if (signal.aborted) finish();
    else signal.addEventListener("abort", finish, { once: true });
  });

const shuttingDown = "shutting down";
const missedDeadline = "could not renew the lease within the renew deadline";
// Reads the flag afresh: TypeScript narrows `signal.aborted` as if awaits could not change it.
const aborted = (signal: AbortSignal): boolean => signal.aborted;

/** RFC 3339 with microseconds, the MicroTime format the Lease API requires. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

export class LeaderElector {
  readonly #client: LeaseClient;
  readonly #options: LeaderElectionOptions;
  readonly #log: LeaderElectionLog;
  readonly #clock: ElectionClock;
  readonly #requestTimeoutMs: number;
  #observedRecord = "";
  /** Monotonic time this replica first saw the current record. */
  #observedAt = 0;
  #leading = false;
  /**
   * The Lease as this replica last wrote it while holding it. A leader renews by writing over it directly, one
   * request instead of a read and a write (client-go's fast path); a conflict means someone else wrote since, and
   * the renewal reads the Lease afresh.
   */
  #held: Lease | undefined;

  constructor(
    client: LeaseClient,
    options: LeaderElectionOptions,
    log: LeaderElectionLog,
    clock: ElectionClock = systemElectionClock,
  ) {
    if (options.renewDeadlineMs >= options.leaseDurationMs) {
      throw new Error("the renew deadline must be shorter than the lease duration");
    }
    if (options.retryPeriodMs * 1.2 >= options.renewDeadlineMs) {
      throw new Error("the retry period (with its jitter) must be shorter than the renew deadline");
    }
    this.#client = client;
    this.#options = options;
    this.#log = log;
    this.#clock = clock;
    this.#requestTimeoutMs = leaseRequestTimeoutMs(options);
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  get #path(): string {
    const { namespace, name } = this.#options;
    return `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}`;
  }

  /**
   * Campaigns until `signal` aborts: acquire, lead (calling `onLeading`), and campaign again after losing.
   * On shutdown a leader releases the lease so a successor need not wait for it to expire.
   */
  async run(signal: AbortSignal, onLeading: LeadingCallback): Promise<void> {
    while (!signal.aborted) {
      const attempt = this.#clock.now();
      if (!(await this.#tryAcquireOrRenew(signal))) {
        await sleep(this.#options.retryPeriodMs * (1 + Math.random() * 0.2), signal);
        continue;
      }
      const reason = await this.#lead(attempt, signal, onLeading);
      if (reason === shuttingDown) await this.#release();
    }
  }

  /**
   * Leads from an acquisition that started at `acquiredAt` until the lease is lost or `signal` aborts, and says
   * why it ended. Each successful renewal moves the deadline to its own start plus the renew deadline: the start,
   * because the record it wrote cannot have reached any standby earlier, and a standby counts its lease duration
   * from when it first saw that record.
   */
  async #lead(acquiredAt: number, signal: AbortSignal, onLeading: LeadingCallback): Promise<string> {
    const { identity, renewDeadlineMs, retryPeriodMs } = this.#options;
    const ended = new AbortController();
    let deadline = acquiredAt + renewDeadlineMs;
    let why = shuttingDown;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const end = (reason: string) => {
      if (ended.signal.aborted) return;
      clearTimeout(timer);
      why = reason;
      this.#leading = false;
      ended.abort();
      this.#log.lost(identity, reason);
    };
    // A timer, not the renew loop, ends leadership at the deadline: a renew request that hangs cannot stretch it.
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        end(missedDeadline);
      }, deadline - this.#clock.now());
    };
    const holds = () => {
      if (this.#clock.now() >= deadline) end(missedDeadline);
      return !ended.signal.aborted;
    };

    arm();
    this.#leading = true;
    this.#log.acquired(identity);
    onLeading({ signal: ended.signal, holds });
    const stop = AbortSignal.any([signal, ended.signal]);
    let lastAttempt = acquiredAt;
    while (!stop.aborted) {
      // Renewals start a retry period apart, however long the last one took: a slow answer must not also push the
      // next renewal later and leave it less of the deadline.
      await sleep(Math.max(0, lastAttempt + retryPeriodMs - this.#clock.now()), stop);
      if (aborted(stop)) break;
      const attempt = this.#clock.now();
      lastAttempt = attempt;
      const renewed = await this.#tryAcquireOrRenew(stop, renewTimeoutMs(this.#options, deadline - attempt));
      // A renewal answered after the deadline revives nothing: the leader may already have stopped acting.
      if (!holds()) break;
      if (renewed) {
        deadline = attempt + renewDeadlineMs;
        arm();
      } else if (this.#observedHolder() !== identity && this.#observedHolder() !== "") {
        end(`the lease is held by ${this.#observedHolder()}`);
      }
    }
    end(shuttingDown);
    return why;
  }

  #observedHolder(): string {
    try {
      return (JSON.parse(this.#observedRecord) as Lease["spec"]).holderIdentity ?? "";
    } catch {
      return "";
    }
  }

  async #tryAcquireOrRenew(signal: AbortSignal, timeoutMs = this.#requestTimeoutMs): Promise<boolean> {
    const { identity, leaseDurationMs, namespace, name } = this.#options;
    const wallNow = this.#clock.wallNow();
    const desired = (existing: Lease["spec"] | undefined): Lease["spec"] => {
      const holding = existing?.holderIdentity === identity;
      return {
        holderIdentity: identity,
        leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
        acquireTime: holding && existing.acquireTime ? existing.acquireTime : microTime(wallNow),
        renewTime: microTime(wallNow),
        leaseTransitions: (existing?.leaseTransitions ?? 0) + (holding ? 0 : 1),
      };
    };

    const held = this.#leading ? this.#held : undefined;
    if (held) {
      const renewed = await this.#request<Lease>(
        "PUT",
        this.#path,
        { body: { ...held, spec: desired(held.spec) }, query: { fieldManager: identity } },
        signal,
        timeoutMs,
      );
      if (renewed.ok) {
        this.#hold(renewed.value);
        return true;
      }
      this.#held = undefined;
      // Only a conflict is worth a fresh read within this attempt; anything else waits for the next one.
      if (renewed.error.kind !== "Conflict") {
        this.#failed(renewed.error, signal);
        return false;
      }
    }

    const current = await this.#request<Lease>("GET", this.#path, {}, signal, timeoutMs);
    if (!current.ok) {
      if (current.error.kind !== "NotFound") {
        this.#failed(current.error, signal);
        return false;
      }
      const spec = { ...desired(undefined), leaseTransitions: 0 };
      const created = await this.#request<Lease>(
        "POST",
        `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
        {
          body: { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name, namespace }, spec },
          query: { fieldManager: identity },
        },
        signal,
        timeoutMs,
      );
      if (!created.ok) {
        if (created.error.kind !== "AlreadyExists") this.#failed(created.error, signal);
        return false;
      }
      this.#hold(created.value);
      return true;
    }

    const lease = current.value;
    // Observed when the answer arrived, not when it was asked for: never earlier than the record was written.
    if (JSON.stringify(lease.spec) !== this.#observedRecord) this.#observe(lease.spec);
    const holder = lease.spec.holderIdentity ?? "";
    const heldByOther = holder !== "" && holder !== identity;
    const expiresAt = this.#observedAt + (lease.spec.leaseDurationSeconds ?? 0) * 1000;
    if (heldByOther && expiresAt > this.#clock.now()) return false;

    const updated = await this.#request<Lease>(
      "PUT",
      this.#path,
      { body: { ...lease, spec: desired(lease.spec) }, query: { fieldManager: identity } },
      signal,
      timeoutMs,
    );
    if (!updated.ok) {
      if (updated.error.kind !== "Conflict") this.#failed(updated.error, signal);
      return false;
    }
    this.#hold(updated.value);
    return true;
  }

  #hold(lease: Lease): void {
    this.#held = lease;
    this.#observe(lease.spec);
  }

  /** Reports a failed request, unless it was abandoned because leading or running ended: that is no failure. */
  #failed(error: KubeError, signal: AbortSignal): void {
    if (!signal.aborted) this.#log.failed(error);
  }

  #observe(spec: Lease["spec"]): void {
    this.#observedRecord = JSON.stringify(spec);
    this.#observedAt = this.#clock.now();
  }

  /**
   * One lease request, given up after the request timeout or when `signal` aborts, whether or not the request
   * itself ever settles: a hung connection must not hold the elector.
   */
  async #request<T>(
    method: string,
    path: string,
    options: Pick<RequestOptions, "body" | "query">,
    signal?: AbortSignal,
    timeoutMs = this.#requestTimeoutMs,
  ): Promise<KubeResult<T>> {
    const timeout = new AbortController();
    const timer = setTimeout(() => {
      timeout.abort();
    }, timeoutMs);
    const givenUp = signal ? AbortSignal.any([timeout.signal, signal]) : timeout.signal;
    const { promise: abandoned, resolve } = Promise.withResolvers<KubeResult<T>>();
    const giveUp = () => {
      const message = timeout.signal.aborted ? `no answer within ${String(timeoutMs)} ms` : "given up";
      resolve({ ok: false, error: { kind: "Network", status: 0, message } });
    };
    if (givenUp.aborted) giveUp();
    else givenUp.addEventListener("abort", giveUp, { once: true });
    try {
      return await Promise.race([this.#client.request<T>(method, path, { ...options, signal: givenUp }), abandoned]);
    } finally {
      clearTimeout(timer);
      givenUp.removeEventListener("abort", giveUp);
    }
  }

  /** Gives the lease up (holder cleared, one-second duration) so a standby takes over at once. */
  async #release(): Promise<void> {
    const current = await this.#request<Lease>("GET", this.#path, {});
    if (!current.ok || current.value.spec.holderIdentity !== this.#options.identity) return;
    const released = await this.#request<Lease>("PUT", this.#path, {
      body: {
        ...current.value,
        spec: {
          ...current.value.spec,
          holderIdentity: "",
          leaseDurationSeconds: 1,
          renewTime: microTime(this.#clock.wallNow()),
        },
      },
      query: { fieldManager: this.#options.identity },
    });
    if (!released.ok) this.#log.failed(released.error);
  }
}
