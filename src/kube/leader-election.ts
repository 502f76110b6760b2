/**
 * Leader election on a coordination.k8s.io Lease, with client-go's rules: a candidate takes the lease only after
 * it has seen the same record unchanged for a whole lease duration (local observation time, so clocks need not
 * agree), writes with optimistic concurrency (the resourceVersion makes two simultaneous takers impossible), and a
 * leader that cannot renew within the renew deadline stops acting before anyone else may start.
 */
import type { KubeClient, KubeError } from "./kube-client.ts";

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

/** Called when this replica leads; `leading` aborts the moment leadership is lost or the process stops. */
export type LeadingCallback = (leading: AbortSignal) => void;

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
// Reads the flag afresh: TypeScript narrows `signal.aborted` as if awaits could not change it.
const aborted = (signal: AbortSignal): boolean => signal.aborted;

/** RFC 3339 with microseconds, the MicroTime format the Lease API requires. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

export class LeaderElector {
  readonly #client: KubeClient;
  readonly #options: LeaderElectionOptions;
  readonly #log: LeaderElectionLog;
  readonly #now: () => number;
  #observedRecord = "";
  #observedAt = 0;
  #leading = false;

  constructor(
    client: KubeClient,
    options: LeaderElectionOptions,
    log: LeaderElectionLog,
    now: () => number = Date.now,
  ) {
    if (options.renewDeadlineMs >= options.leaseDurationMs) {
      throw new Error("the renew deadline must be shorter than the lease duration");
    }
    this.#client = client;
    this.#options = options;
    this.#log = log;
    this.#now = now;
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
      if (!(await this.#tryAcquireOrRenew())) {
        await sleep(this.#options.retryPeriodMs * (1 + Math.random() * 0.2), signal);
        continue;
      }
      const leading = new AbortController();
      this.#leading = true;
      this.#log.acquired(this.#options.identity);
      onLeading(leading.signal);
      const reason = await this.#renewUntilLost(signal);
      this.#leading = false;
      leading.abort();
      this.#log.lost(this.#options.identity, reason);
      if (reason === shuttingDown) await this.#release();
    }
  }

  async #renewUntilLost(signal: AbortSignal): Promise<string> {
    let lastRenew = this.#now();
    while (!signal.aborted) {
      await sleep(this.#options.retryPeriodMs, signal);
      if (aborted(signal)) return shuttingDown;
      if (await this.#tryAcquireOrRenew()) {
        lastRenew = this.#now();
      } else if (this.#now() - lastRenew >= this.#options.renewDeadlineMs) {
        return "could not renew the lease within the renew deadline";
      } else if (this.#observedHolder() !== this.#options.identity && this.#observedHolder() !== "") {
        return `the lease is held by ${this.#observedHolder()}`;
      }
    }
    return shuttingDown;
  }

  #observedHolder(): string {
    try {
      return (JSON.parse(this.#observedRecord) as Lease["spec"]).holderIdentity ?? "";
    } catch {
      return "";
    }
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { identity, leaseDurationMs, namespace, name } = this.#options;
    const now = this.#now();
    const desired = (existing: Lease["spec"] | undefined): Lease["spec"] => {
      const holding = existing?.holderIdentity === identity;
      return {
        holderIdentity: identity,
        leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
        acquireTime: holding && existing.acquireTime ? existing.acquireTime : microTime(now),
        renewTime: microTime(now),
        leaseTransitions: (existing?.leaseTransitions ?? 0) + (holding ? 0 : 1),
      };
    };

    const current = await this.#client.get<Lease>(this.#path);
    if (!current.ok) {
      if (current.error.kind !== "NotFound") {
        this.#log.failed(current.error);
        return false;
      }
      const spec = { ...desired(undefined), leaseTransitions: 0 };
      const created = await this.#client.create<Lease>(
        `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
        { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name, namespace }, spec },
        identity,
      );
      if (!created.ok) {
        if (created.error.kind !== "AlreadyExists") this.#log.failed(created.error);
        return false;
      }
      this.#observe(created.value.spec, now);
      return true;
    }

    const lease = current.value;
    const record = JSON.stringify(lease.spec);
    if (record !== this.#observedRecord) this.#observe(lease.spec, now);
    const holder = lease.spec.holderIdentity ?? "";
    const heldByOther = holder !== "" && holder !== identity;
    const expiresAt = this.#observedAt + (lease.spec.leaseDurationSeconds ?? 0) * 1000;
    if (heldByOther && expiresAt > now) return false;

    const updated = await this.#client.request<Lease>("PUT", this.#path, {
      body: { ...lease, spec: desired(lease.spec) },
      query: { fieldManager: identity },
    });
    if (!updated.ok) {
      if (updated.error.kind !== "Conflict") this.#log.failed(updated.error);
      return false;
    }
    this.#observe(updated.value.spec, now);
    return true;
  }

  #observe(spec: Lease["spec"], at: number): void {
    this.#observedRecord = JSON.stringify(spec);
    this.#observedAt = at;
  }

  /** Gives the lease up (holder cleared, one-second duration) so a standby takes over at once. */
  async #release(): Promise<void> {
    const current = await this.#client.get<Lease>(this.#path);
    if (!current.ok || current.value.spec.holderIdentity !== this.#options.identity) return;
    const released = await this.#client.request<Lease>("PUT", this.#path, {
      body: {
        ...current.value,
        spec: { ...current.value.spec, holderIdentity: "", leaseDurationSeconds: 1, renewTime: microTime(this.#now()) },
      },
      query: { fieldManager: this.#options.identity },
    });
    if (!released.ok) this.#log.failed(released.error);
  }
}
