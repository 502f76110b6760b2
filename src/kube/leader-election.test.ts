import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { KubeResult, RequestOptions } from "./kube-client.ts";
import { LeaderElector, leaseRequestTimeoutMs, renewTimeoutMs } from "./leader-election.ts";
import type { ElectionClock, LeaderElectionOptions, LeaseClient, Leadership } from "./leader-election.ts";

interface Lease {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: { holderIdentity?: string; renewTime?: string; leaseTransitions?: number; leaseDurationSeconds?: number };
}

/** One Lease with the API server's optimistic concurrency, answering after `latencyMs`. */
class FakeLeaseServer {
  lease: Lease | undefined;
  latencyMs: number;
  /** Every request answered, by method. */
  readonly answered: string[] = [];
  #version = 0;

  constructor(latencyMs = 20) {
    this.latencyMs = latencyMs;
  }

  answer(method: string, body: unknown): KubeResult<unknown> {
    this.answered.push(method);
    const conflict = (reason: string) => ({
      ok: false as const,
      error: { kind: reason as "Conflict", status: 409, message: reason },
    });
    if (method === "GET") {
      return this.lease
        ? { ok: true, value: structuredClone(this.lease) }
        : { ok: false, error: { kind: "NotFound", status: 404, message: "" } };
    }
    const written = structuredClone(body) as Lease;
    if (method === "POST" && this.lease) return conflict("AlreadyExists");
    if (method === "PUT" && written.metadata.resourceVersion !== this.lease?.metadata.resourceVersion)
      return conflict("Conflict");
    this.#version += 1;
    this.lease = { ...written, metadata: { ...written.metadata, resourceVersion: String(this.#version) } };
    return { ok: true, value: structuredClone(this.lease) };
  }

  /** Someone else (a person, a tool) writes the Lease without taking it: its resourceVersion moves on. */
  touch(): void {
    if (!this.lease) return;
    this.#version += 1;
    this.lease = { ...this.lease, metadata: { ...this.lease.metadata, resourceVersion: String(this.#version) } };
  }

  /** A connection to this server; a frozen one's requests never settle, aborted or not. */
  connection(): FakeConnection {
    return new FakeConnection(this);
  }
}

class FakeConnection implements LeaseClient {
  frozen = false;
  /** Requests sent and neither answered nor abandoned (their signal aborted). */
  pending = 0;
  sent = 0;
  readonly #server: FakeLeaseServer;

  constructor(server: FakeLeaseServer) {
    this.#server = server;
  }

  request<T>(method: string, _path: string, options: RequestOptions = {}): Promise<KubeResult<T>> {
    this.sent += 1;
    this.pending += 1;
    let settled = false;
    const settle = () => {
      if (!settled) this.pending -= 1;
      settled = true;
    };
    options.signal?.addEventListener("abort", settle);
    if (this.frozen) return new Promise(() => undefined);
    return new Promise((resolve) => {
      setTimeout(() => {
        settle();
        resolve(this.#server.answer(method, options.body) as KubeResult<T>);
      }, this.#server.latencyMs);
    });
  }
}

const options: Omit<LeaderElectionOptions, "identity"> = {
  namespace: "ns",
  name: "lease",
  leaseDurationMs: 6_000,
  renewDeadlineMs: 4_000,
  retryPeriodMs: 1_000,
};

/** The fake timers' monotonic clock, and a wall clock that can be set to jump. */
function fakeClock(): ElectionClock & { jump(ms: number): void } {
  let offset = 0;
  return {
    now: () => performance.now(),
    wallNow: () => Date.now() + offset,
    jump: (ms) => {
      offset += ms;
    },
  };
}

/** A candidate on its own connection, recording what it was told. */
function candidate(server: FakeLeaseServer, identity: string, clock: ElectionClock = fakeClock()) {
  const connection = server.connection();
  const record = {
    connection,
    acquiredAt: [] as number[],
    endedAt: [] as number[],
    lost: [] as string[],
    leaderships: [] as Leadership[],
  };
  const elector = new LeaderElector(
    connection,
    { ...options, identity },
    {
      acquired: () => record.acquiredAt.push(performance.now()),
      lost: (_identity, reason) => record.lost.push(reason),
      failed: () => undefined,
    },
    clock,
  );
  const stop = new AbortController();
  const running = elector.run(stop.signal, (leadership) => {
    record.leaderships.push(leadership);
    leadership.signal.addEventListener("abort", () => record.endedAt.push(performance.now()));
  });
  return { ...record, elector, stop: () => (stop.abort(), running) };
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date", "performance"] });
});

afterEach(() => {
  vi.useRealTimers();
});

describe("leaseRequestTimeoutMs", () => {
  it.each([
    { renewDeadlineMs: 10_000, retryPeriodMs: 2_000, expected: 2_000 },
    { renewDeadlineMs: 10_000, retryPeriodMs: 200, expected: 1_000 },
    { renewDeadlineMs: 4_000, retryPeriodMs: 3_000, expected: 2_000 },
    { renewDeadlineMs: 1_000, retryPeriodMs: 100, expected: 500 },
  ])("is $expected ms for a $renewDeadlineMs ms deadline and a $retryPeriodMs ms retry period", (timing) => {
    expect(leaseRequestTimeoutMs(timing)).toBe(timing.expected);
  });
});

describe("renewTimeoutMs", () => {
  it("gives a renewal the time left before the renew deadline but one campaign request, never less than one", () => {
    const timing = { renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };
    expect(renewTimeoutMs(timing, 8_000)).toBe(6_000);
    expect(renewTimeoutMs(timing, 3_000)).toBe(2_000);
  });
});

describe("LeaderElector", () => {
  it("renews with one write over the Lease it last wrote, and reads afresh only after a conflict", async () => {
    const server = new FakeLeaseServer();
    const a = candidate(server, "a");
    await vi.advanceTimersByTimeAsync(500);
    expect(a.elector.isLeader).toBe(true);
    server.answered.length = 0;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(server.answered.length).toBeGreaterThanOrEqual(7);
    expect(new Set(server.answered)).toEqual(new Set(["PUT"]));

    // Someone else wrote the Lease: the next renewal conflicts, reads it and writes again in the same attempt.
    server.touch();
    server.answered.length = 0;
    await vi.advanceTimersByTimeAsync(1_250);
    expect(server.answered).toEqual(["PUT", "GET", "PUT"]);
    expect(a.lost).toEqual([]);
    expect(server.lease?.spec.holderIdentity).toBe("a");
  });

  it("keeps leading through an API server that answers slower than a campaign request may wait", async () => {
    const server = new FakeLeaseServer();
    const a = candidate(server, "a");
    await vi.advanceTimersByTimeAsync(500);
    expect(a.elector.isLeader).toBe(true);
    // Slower than the campaign timeout (1 s with these timings), well inside the renew deadline (4 s).
    server.latencyMs = 1_400;
    expect(server.latencyMs).toBeGreaterThan(leaseRequestTimeoutMs(options));
    await vi.advanceTimersByTimeAsync(30_000);
    expect(a.lost).toEqual([]);
    expect(a.elector.isLeader).toBe(true);
  });

  it("leads and keeps leading while renewals succeed", async () => {
    const server = new FakeLeaseServer();
    const a = candidate(server, "a");
    await vi.advanceTimersByTimeAsync(30_000);
    expect(a.elector.isLeader).toBe(true);
    expect(a.acquiredAt).toHaveLength(1);
    expect(a.lost).toEqual([]);
    expect(server.lease?.spec).toMatchObject({ holderIdentity: "a", leaseTransitions: 0, leaseDurationSeconds: 6 });
    const stopped = a.stop();
    await vi.advanceTimersByTimeAsync(1_000);
    await stopped;
    expect(a.lost).toEqual(["shutting down"]);
    expect(server.lease?.spec.holderIdentity).toBe("");
  });

  it("stops leading at its last renewal's start plus the renew deadline, while a renew request still hangs", async () => {
    // Renewals start a retry period apart (1 s) and take one 100 ms request: none is in flight at 2.5 s.
    const server = new FakeLeaseServer(100);
    const a = candidate(server, "a");
    await vi.advanceTimersByTimeAsync(2_500);
    expect(a.elector.isLeader).toBe(true);
    a.connection.frozen = true;
    const lastRenewal = Date.parse(server.lease?.spec.renewTime ?? "");
    const deadline = performance.now() + (lastRenewal - Date.now()) + options.renewDeadlineMs;
    await vi.advanceTimersByTimeAsync(deadline - performance.now() - 1);
    expect(a.endedAt).toEqual([]);
    // A renew request is out, and would be given up only after the deadline: the timer, not it, ends leadership.
    expect(a.connection.pending).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(a.endedAt).toEqual([deadline]);
    expect(a.elector.isLeader).toBe(false);
    expect(a.lost).toEqual(["could not renew the lease within the renew deadline"]);
    expect(a.leaderships[0]?.holds()).toBe(false);
  });

  it("gives each hung lease request up after the request timeout, campaigning on and stopping promptly", async () => {
    const server = new FakeLeaseServer();
    const a = candidate(server, "a");
    await vi.advanceTimersByTimeAsync(1_500);
    a.connection.frozen = true;
    const before = a.connection.sent;
    await vi.advanceTimersByTimeAsync(20_000);
    // One request per request timeout plus retry period (with jitter): a hung one does not hold the loop.
    expect(a.connection.sent - before).toBeGreaterThanOrEqual(8);
    let stopped = false;
    void a.stop().then(() => (stopped = true));
    await vi.advanceTimersByTimeAsync(leaseRequestTimeoutMs(options) * 2);
    expect(stopped).toBe(true);
  });

  it("has stopped leading, by at least the lease duration less the renew deadline, before a standby takes over", async () => {
    const server = new FakeLeaseServer(50);
    const a = candidate(server, "a");
    await vi.advanceTimersByTimeAsync(500);
    const b = candidate(server, "b");
    await vi.advanceTimersByTimeAsync(5_321);
    expect(b.acquiredAt).toEqual([]);
    a.connection.frozen = true;
    await vi.advanceTimersByTimeAsync(15_000);
    const [ended] = a.endedAt;
    const [acquired] = b.acquiredAt;
    expect(ended).toBeDefined();
    expect(acquired).toBeDefined();
    expect((acquired ?? 0) - (ended ?? 0)).toBeGreaterThanOrEqual(options.leaseDurationMs - options.renewDeadlineMs);
    expect(server.lease?.spec).toMatchObject({ holderIdentity: "b", leaseTransitions: 1 });
  });

  it("times the lease on the monotonic clock: wall-clock jumps neither end a leader nor let a standby in early", async () => {
    const server = new FakeLeaseServer();
    const leaderClock = fakeClock();
    const standbyClock = fakeClock();
    const a = candidate(server, "a", leaderClock);
    await vi.advanceTimersByTimeAsync(500);
    const b = candidate(server, "b", standbyClock);
    await vi.advanceTimersByTimeAsync(2_000);
    leaderClock.jump(-3_600_000);
    standbyClock.jump(3_600_000);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(a.elector.isLeader).toBe(true);
    expect(a.lost).toEqual([]);
    expect(b.acquiredAt).toEqual([]);
    // The wall clock is only written down, for people and tools to read.
    expect(Date.parse(server.lease?.spec.renewTime ?? "")).toBeLessThan(Date.now() - 3_500_000);

    // The leader goes silent; once the standby has seen its last record, the standby's wall clock leaps ahead.
    a.connection.frozen = true;
    const silentSince = performance.now();
    await vi.advanceTimersByTimeAsync(1_500);
    standbyClock.jump(3_600_000);
    await vi.advanceTimersByTimeAsync(10_000);
    const [acquired] = b.acquiredAt;
    // Its last record was written at most a renew cycle (1.2 s) before it went silent.
    expect((acquired ?? 0) - silentSince).toBeGreaterThanOrEqual(options.leaseDurationMs - 1_200);
  });

  it("refuses timings under which a leader could not stop before a standby starts", () => {
    const connection = new FakeLeaseServer().connection();
    const quiet = { acquired: () => undefined, lost: () => undefined, failed: () => undefined };
    const elector = (timing: Partial<LeaderElectionOptions>) =>
      new LeaderElector(connection, { ...options, identity: "a", ...timing }, quiet);
    expect(() => elector({ renewDeadlineMs: 6_000 })).toThrow(/renew deadline must be shorter than the lease/);
    expect(() => elector({ retryPeriodMs: 3_500 })).toThrow(/retry period/);
  });
});
