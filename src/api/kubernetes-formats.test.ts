import { describe, expect, it } from "vitest";
import { dnsSubdomain, labelValue, qualifiedName, relativeMp4Path, relativePath } from "./kubernetes-formats.ts";
import { quantityBytes } from "./quantity.ts";

const accepts = (schema: { safeParse: (v: unknown) => { success: boolean } }, value: string) =>
  schema.safeParse(value).success;

describe("Kubernetes string formats", () => {
  it.each([
    ["tier", true],
    ["app.kubernetes.io/name", true],
    ["nvidia.com/gpu", true],
    ["a".repeat(63), true],
    ["a".repeat(64), false],
    [`${"a".repeat(253)}/x`, true],
    [`${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(64)}/x`, false],
    ["Example.com/x", false],
    ["-x", false],
    ["a/b/c", false],
    ["", false],
  ])("qualified name %j: %s", (key, ok) => {
    expect(accepts(qualifiedName, key)).toBe(ok);
  });

  it.each([
    ["", true],
    ["h100", true],
    ["a.b_c-d", true],
    ["x".repeat(63), true],
    ["x".repeat(64), false],
    ["-a", false],
    ["a b", false],
  ])("label value %j: %s", (value, ok) => {
    expect(accepts(labelValue, value)).toBe(ok);
  });

  it.each([
    ["svi-models", true],
    ["a.b.c", true],
    ["Models", false],
    ["a_b", false],
    ["a".repeat(254), false],
  ])("DNS subdomain %j: %s", (value, ok) => {
    expect(accepts(dnsSubdomain, value)).toBe(ok);
  });

  it.each([
    ["still.png", true],
    ["a/b/.hidden/c.png", true],
    ["a/.../b", true],
    ["/abs.png", false],
    ["a/../b", false],
    ["./a", false],
    ["a//b", false],
    ["a/", false],
  ])("relative path %j: %s", (value, ok) => {
    expect(accepts(relativePath, value)).toBe(ok);
  });

  it.each([
    ["film.mp4", true],
    ["out/2026/film.mp4", true],
    [".mp4", false],
    ["film.mov", false],
    ["../film.mp4", false],
  ])("mp4 path %j: %s", (value, ok) => {
    expect(accepts(relativeMp4Path, value)).toBe(ok);
  });
});

describe("quantityBytes", () => {
  it.each([
    ["20Gi", 20 * 2 ** 30],
    ["1.5Gi", 1.5 * 2 ** 30],
    ["500M", 5e8],
    ["1024", 1024],
    ["64Ti", 64 * 2 ** 40],
    ["1e3", undefined],
    ["-1Gi", undefined],
    ["1GB", undefined],
    ["Gi", undefined],
  ])("%s is %s bytes", (text, bytes) => {
    expect(quantityBytes(text)).toBe(bytes);
  });
});
