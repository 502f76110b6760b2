import { describe, expect, it } from "vitest";
import { operatorConfig } from "./operator-config.ts";

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
