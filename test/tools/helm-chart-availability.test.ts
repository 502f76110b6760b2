/**
 * What chart users expect besides the operator itself: a PodDisruptionBudget for the replicas, an optional
 * NetworkPolicy for the metrics port, and a README whose values table documents every value. Runs the pinned helm.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { valueRows } from "../../src/install/chart-readme.ts";
import { chartDir, helm, helmTemplate, renderedObjects } from "../support/pinned-helm.ts";

const release = { name: "films", namespace: "films-system" };

interface ObjectView {
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: Record<string, unknown>;
}

const rendered = (...values: string[]) => renderedObjects<ObjectView>(helmTemplate(release, values));
const ofKind = (objects: readonly ObjectView[], kind: string) => objects.filter((o) => o.kind === kind);
const selector = {
  matchLabels: { "app.kubernetes.io/name": "longvideo-operator", "app.kubernetes.io/instance": "films" },
};

describe("the chart's PodDisruptionBudget", () => {
  it("lets a drain take one of the two default replicas at a time, selecting exactly the operator's pods", () => {
    const objects = rendered();
    const [budget] = ofKind(objects, "PodDisruptionBudget");
    expect(budget?.metadata).toMatchObject({ name: "films-longvideo-operator", namespace: "films-system" });
    expect(budget?.spec).toEqual({ maxUnavailable: 1, selector });
    const [deployment] = ofKind(objects, "Deployment");
    expect(deployment?.spec?.selector).toEqual(selector);
  });

  it("is left out with one replica, where it would block every drain", () => {
    expect(ofKind(rendered("replicaCount=1"), "PodDisruptionBudget")).toEqual([]);
    expect(ofKind(rendered("podDisruptionBudget.enabled=false"), "PodDisruptionBudget")).toEqual([]);
  });
});

describe("the chart's NetworkPolicy", () => {
  it("is off by default", () => {
    expect(ofKind(rendered(), "NetworkPolicy")).toEqual([]);
  });

  it("admits ingress only to the metrics port, from the peers given", () => {
    const objects = renderedObjects<ObjectView>(
      helmTemplate(
        release,
        ["networkPolicy.enabled=true"],
        [
          "--set-json",
          'networkPolicy.metricsFrom=[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"monitoring"}}}]',
        ],
      ),
    );
    const [policy] = ofKind(objects, "NetworkPolicy");
    expect(policy?.spec).toEqual({
      podSelector: selector,
      policyTypes: ["Ingress"],
      ingress: [
        {
          ports: [{ port: "http-metrics", protocol: "TCP" }],
          from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }],
        },
      ],
    });
  });

  it("admits the metrics port from anywhere when no peer is given", () => {
    const [policy] = ofKind(rendered("networkPolicy.enabled=true"), "NetworkPolicy");
    expect(policy?.spec?.ingress).toEqual([{ ports: [{ port: "http-metrics", protocol: "TCP" }] }]);
  });

  it("passes `helm lint --strict` with both on", () => {
    expect(helm("lint", "--strict", chartDir, "--set", "networkPolicy.enabled=true")).toContain("0 chart(s) failed");
  });
});

describe("the chart's README", () => {
  const values = readFileSync(path.join(chartDir, "values.yaml"), "utf8");
  const schema = JSON.parse(readFileSync(path.join(chartDir, "values.schema.json"), "utf8")) as object;
  const readme = readFileSync(path.join(chartDir, "README.md"), "utf8");
  const rows = valueRows(values, schema);

  it("documents every value: a row each, with a description", () => {
    expect(rows.length).toBeGreaterThan(40);
    expect(rows.filter((row) => row.description === "").map((row) => row.key)).toEqual([]);
    for (const row of rows) expect(readme).toContain(`| ${row.key} | ${row.type} |`);
  });

  it("names every value the templates read", () => {
    const templates = ["deployment.yaml", "poddisruptionbudget.yaml", "networkpolicy.yaml", "service.yaml"];
    const used = new Set(
      templates.flatMap((file) =>
        [...readFileSync(path.join(chartDir, "templates", file), "utf8").matchAll(/\.Values\.([a-zA-Z.]+)/g)].map(
          (m) => m[1] ?? "",
        ),
      ),
    );
    const keys = rows.map((row) => row.key);
    for (const value of used)
      expect(
        keys.some((key) => key === value || key.startsWith(`${value}.`)),
        value,
      ).toBe(true);
  });
});
