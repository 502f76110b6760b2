import { describe, expect, it } from "vitest";
import { operatorConfig } from "./operator-config.ts";

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
