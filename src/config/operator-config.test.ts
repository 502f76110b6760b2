import { describe, expect, it } from "vitest";
import { leaderElectionSummary, operatorConfig } from "./operator-config.ts";

/** The configuration of an environment, or the test fails with its errors. */
function configOf(environment: Record<string, string>) {
  const parsed = operatorConfig(environment);
  if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
  return parsed.config;
}

/** The errors of an environment the configuration refuses. */
function errorsOf(environment: Record<string, string>): string[] {
  const parsed = operatorConfig(environment);
  if (parsed.ok) throw new Error(`accepted: ${JSON.stringify(parsed.config)}`);
  return parsed.errors;
}

describe("operatorConfig: the namespaces watched (LV_WATCH_NAMESPACES)", () => {
  it("watches every namespace when unset or empty", () => {
    expect(configOf({}).watchNamespaces).toEqual([]);
    expect(configOf({ LV_WATCH_NAMESPACES: "" }).watchNamespaces).toEqual([]);
    expect(configOf({ LV_WATCH_NAMESPACES: " , " }).watchNamespaces).toEqual([]);
  });

  it("reads a comma-separated list, ignoring blanks around names and dropping repeats", () => {
    expect(configOf({ LV_WATCH_NAMESPACES: "team-a" }).watchNamespaces).toEqual(["team-a"]);
    expect(configOf({ LV_WATCH_NAMESPACES: "team-a, films-2 ,team-a," }).watchNamespaces).toEqual([
      "team-a",
      "films-2",
    ]);
  });

  it("refuses names that are not DNS-1123 labels, naming the variable and each bad name", () => {
    for (const bad of ["Team-A", "team_a", "-team", "team-", "a.b", "a/b", "x".repeat(64)]) {
      const errors = errorsOf({ LV_WATCH_NAMESPACES: `ok,${bad}` });
      expect(errors, bad).toHaveLength(1);
      expect(errors[0], bad).toMatch(/^LV_WATCH_NAMESPACES: not a namespace name \(DNS-1123 label\): /);
      expect(errors[0], bad).toContain(bad);
      expect(errors[0], bad).not.toContain("ok");
    }
    expect(configOf({ LV_WATCH_NAMESPACES: "x".repeat(63) }).watchNamespaces).toEqual(["x".repeat(63)]);
  });
});

describe("operatorConfig: nodes (LV_WATCH_NODES)", () => {
  it("watches nodes unless told not to", () => {
    expect(configOf({}).watchNodes).toBe(true);
    expect(configOf({ LV_WATCH_NODES: "true" }).watchNodes).toBe(true);
    expect(configOf({ LV_WATCH_NODES: "false" }).watchNodes).toBe(false);
    expect(configOf({ LV_WATCH_NODES: "0" }).watchNodes).toBe(false);
  });

  it("refuses a value that is not a boolean rather than defaulting", () => {
    expect(errorsOf({ LV_WATCH_NODES: "no" })[0]).toMatch(/^LV_WATCH_NODES: /);
  });
});

describe("operator config: the reference fetch policy (LV_FETCH_POLICY)", () => {
  it("is safe when unset: nothing allowed, the contract's limits", () => {
    const parsed = operatorConfig({});
    if (!parsed.ok) throw new Error(parsed.errors.join("; "));
    expect(parsed.config.fetchPolicy).toEqual({
      allowCidrs: [],
      refuseCidrs: [],
      maxBytes: 64 * 1024 * 1024,
      timeoutSeconds: 30,
    });
  });

  it("reads the chart's JSON, IPv4 and IPv6 ranges alike", () => {
    const parsed = operatorConfig({
      LV_FETCH_POLICY:
        '{"allowCidrs":["10.88.0.1/32"],"maxBytes":1048576,"refuseCidrs":["10.244.0.0/16","fd00:10:96::/112"],' +
        '"timeoutSeconds":7.5}',
    });
    if (!parsed.ok) throw new Error(parsed.errors.join("; "));
    expect(parsed.config.fetchPolicy).toEqual({
      allowCidrs: ["10.88.0.1/32"],
      refuseCidrs: ["10.244.0.0/16", "fd00:10:96::/112"],
      maxBytes: 1048576,
      timeoutSeconds: 7.5,
    });
  });

  it.each([
    ["not JSON", "{", /LV_FETCH_POLICY: is not valid JSON/],
    ["a range without a prefix", '{"refuseCidrs":["10.244.0.0"]}', /"10\.244\.0\.0" is not an IPv4 or IPv6 range/],
    ["a prefix too long", '{"allowCidrs":["10.0.0.0/33"]}', /"10\.0\.0\.0\/33" is not an IPv4 or IPv6 range/],
    ["a host name", '{"allowCidrs":["images.example/32"]}', /is not an IPv4 or IPv6 range/],
    ["an unknown field", '{"allowCIDRs":["10.0.0.0/8"]}', /LV_FETCH_POLICY: .*allowCIDRs/],
    ["a size of zero", '{"maxBytes":0}', /LV_FETCH_POLICY: /],
    ["a timeout of zero", '{"timeoutSeconds":0}', /LV_FETCH_POLICY: /],
  ])("refuses %s, naming the variable", (_case, value, error) => {
    const parsed = operatorConfig({ LV_FETCH_POLICY: value });
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.errors).toEqual([expect.stringMatching(error)]);
  });
});

describe("operatorConfig: lease timings", () => {
  it("takes lease timings under which a leader stops before a standby may start", () => {
    const parsed = operatorConfig({
      LV_LEASE_DURATION_SECONDS: "6",
      LV_RENEW_DEADLINE_SECONDS: "4",
      LV_RETRY_PERIOD_SECONDS: "1",
    });
    expect(parsed.ok && parsed.config).toMatchObject({
      leaseDurationMs: 6_000,
      renewDeadlineMs: 4_000,
      retryPeriodMs: 1_000,
    });
  });

  it.each([
    {
      timings: { LV_LEASE_DURATION_SECONDS: "10", LV_RENEW_DEADLINE_SECONDS: "10" },
      error: "LV_RENEW_DEADLINE_SECONDS: must be shorter than LV_LEASE_DURATION_SECONDS",
    },
    {
      timings: { LV_RENEW_DEADLINE_SECONDS: "2", LV_RETRY_PERIOD_SECONDS: "2" },
      error: "LV_RETRY_PERIOD_SECONDS: with its 20% jitter, must be shorter than LV_RENEW_DEADLINE_SECONDS",
    },
  ])("refuses $error", ({ timings, error }) => {
    const parsed = operatorConfig(timings);
    expect(parsed.ok ? [] : parsed.errors).toEqual([error]);
  });
});

describe("operatorConfig: where the leader-election Lease lives", () => {
  it("out of cluster, defaults to longvideo-system and makes it when missing", () => {
    const config = configOf({});
    expect(config.namespace).toBe("longvideo-system");
    expect(config.createLeaseNamespace).toBe(true);
    expect(leaderElectionSummary(config)).toBe(
      "leader election on Lease longvideo-system/longvideo-operator; out of cluster, the namespace is created if missing",
    );
  });

  it("in a pod, uses the pod's namespace, which exists, and never creates one", () => {
    const config = configOf({ POD_NAMESPACE: "films-system", POD_NAME: "op-0" });
    expect(config.namespace).toBe("films-system");
    expect(config.createLeaseNamespace).toBe(false);
    expect(leaderElectionSummary(config)).toBe("leader election on Lease films-system/longvideo-operator");
  });

  it("says that a process without leader election acts alone", () => {
    const config = configOf({ LV_LEADER_ELECTION: "false" });
    expect(leaderElectionSummary(config)).toBe(
      "leader election off (LV_LEADER_ELECTION=false): this process acts alone; run no other operator against this cluster",
    );
  });
});

describe("operatorConfig: warm start (LV_WARM_START_*)", () => {
  it("defaults to a 600 s lead cap, a 5 s margin and three warm pods ahead", () => {
    expect(configOf({}).warmStart).toEqual({ maxLeadMs: 600_000, marginMs: 5_000, maxAhead: 3 });
    expect(configOf({ LV_WARM_START_MAX_AHEAD: "1" }).warmStart.maxAhead).toBe(1);
  });

  it("refuses a bound of warm pods ahead that is not a whole number from 1 to 8, naming the variable", () => {
    for (const bad of ["0", "9", "1.5", "two"]) {
      expect(errorsOf({ LV_WARM_START_MAX_AHEAD: bad }), bad).toEqual([
        expect.stringMatching(/^LV_WARM_START_MAX_AHEAD: /) as unknown,
      ]);
    }
  });
});
