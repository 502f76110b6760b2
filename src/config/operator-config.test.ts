import { describe, expect, it } from "vitest";
import { operatorConfig } from "./operator-config.ts";

describe("operatorConfig", () => {
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
