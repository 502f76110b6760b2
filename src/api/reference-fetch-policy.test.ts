import { describe, expect, it } from "vitest";
import { isCidr, referenceFetchPolicyJson, referenceFetchPolicySchema } from "./reference-fetch-policy.ts";
import { referenceFetch } from "./runtime-contract.ts";

describe("reference fetch policy", () => {
  it.each([
    "10.244.0.0/16",
    "0.0.0.0/0",
    "10.88.0.1/32",
    "fd00:10:96::/112",
    "::/0",
    "::ffff:10.0.0.0/104",
    "2001:db8:0:0:0:0:0:0/32",
    "1:2:3:4:5:6:7::/128",
    "1:2:3:4:5:6:1.2.3.4/128",
  ])("takes %s as a range", (text) => {
    expect(isCidr(text)).toBe(true);
  });

  it.each([
    "10.244.0.0",
    "10.0.0.0/33",
    "::/129",
    "10.0.0/8",
    "010.0.0.0/8",
    "256.0.0.0/8",
    "fe80::1%eth0/64",
    "1::2::3/64",
    "1:2:3:4:5:6:7/64",
    "1:2:3:4:5:6:7:8::/64",
    "12345::/16",
    ":1::/64",
    "images.example/32",
    "",
    "/8",
  ])("refuses %j", (text) => {
    expect(isCidr(text)).toBe(false);
  });

  it("defaults to nothing allowed and the contract's limits, which the worker shares", () => {
    expect(referenceFetchPolicySchema.parse({})).toEqual({
      allowCidrs: [],
      refuseCidrs: [],
      maxBytes: referenceFetch.maxBytes,
      timeoutSeconds: referenceFetch.timeoutSeconds,
    });
    expect(referenceFetch).toEqual({ maxBytes: 64 * 1024 * 1024, timeoutSeconds: 30, maxRedirects: 5 });
  });

  it("bounds what a worker holds in memory and waits for", () => {
    expect(referenceFetchPolicySchema.safeParse({ maxBytes: 1024 ** 3 + 1 }).success).toBe(false);
    expect(referenceFetchPolicySchema.safeParse({ maxBytes: 1.5 }).success).toBe(false);
    expect(referenceFetchPolicySchema.safeParse({ timeoutSeconds: 3601 }).success).toBe(false);
    expect(referenceFetchPolicySchema.safeParse({ timeoutSeconds: -1 }).success).toBe(false);
  });

  it("is written for the pod in one order, whatever order it was given in", () => {
    const policy = referenceFetchPolicySchema.parse({ timeoutSeconds: 5, refuseCidrs: ["10.96.0.0/12"] });
    expect(referenceFetchPolicyJson(policy)).toBe(
      '{"allowCidrs":[],"refuseCidrs":["10.96.0.0/12"],"maxBytes":67108864,"timeoutSeconds":5}',
    );
  });
});
