import { readFileSync } from "node:fs";
import path from "node:path";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { filmProgressOf } from "../kube/film-controller-observer.ts";
import { OperatorMetrics } from "./operator-metrics.ts";

async function sample(registry: Registry, name: string, labels: string): Promise<number | undefined> {
  const text = await registry.metrics();
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.split(" ").at(-1));
}

describe("OperatorMetrics.filmControllerObserver", () => {
  it("creates every series the dashboard and alerts read at zero, before anything happens", async () => {
    const registry = new Registry();
    new OperatorMetrics(registry, "api:6443").filmControllerObserver("longvideo");
    expect(await sample(registry, "longvideo_segments_total", 'result="failed"')).toBe(0);
    expect(await sample(registry, "controller_runtime_reconcile_total", 'controller="longvideo",result="error"')).toBe(
      0,
    );
    expect(await sample(registry, "controller_runtime_reconcile_errors_total", 'controller="longvideo"')).toBe(0);
  });

  it("counts reconciles and errors, segments by outcome, and GPU-seconds by resource", async () => {
    const registry = new Registry();
    const observer = new OperatorMetrics(registry, "api:6443").filmControllerObserver("longvideo");
    observer.reconciled("error", 0.01);
    observer.reconciled("success", 0.02);
    observer.segmentEnded("succeeded", 30, "svi", { resource: "nvidia.com/gpu", count: 2 });
    observer.segmentEnded("retried", 5, "svi", { resource: "nvidia.com/gpu", count: 2 });
    observer.filmsByPhase(new Map([["Rendering", 3]]));
    expect(await sample(registry, "controller_runtime_reconcile_total", 'controller="longvideo",result="error"')).toBe(
      1,
    );
    expect(await sample(registry, "controller_runtime_reconcile_errors_total", 'controller="longvideo"')).toBe(1);
    expect(await sample(registry, "longvideo_segments_total", 'result="succeeded"')).toBe(1);
    expect(await sample(registry, "longvideo_gpu_seconds_total", 'resource="nvidia.com/gpu"')).toBe(70);
    expect(await sample(registry, "longvideo_films", 'phase="Rendering"')).toBe(3);
  });

  it("gives each film's segments rendered and planned, and forgets a film no longer listed", async () => {
    const registry = new Registry();
    const observer = new OperatorMetrics(registry, "api:6443").filmControllerObserver("longvideo");
    observer.filmProgress([
      { namespace: "demo", name: "harbour", rendered: 3, planned: 8 },
      { namespace: "demo", name: "kite", rendered: 1, planned: 2 },
    ]);
    expect(await sample(registry, "longvideo_film_segments_rendered", 'namespace="demo",name="harbour"')).toBe(3);
    expect(await sample(registry, "longvideo_film_segments_planned", 'namespace="demo",name="harbour"')).toBe(8);
    observer.filmProgress([{ namespace: "demo", name: "harbour", rendered: 4, planned: 8 }]);
    expect(await sample(registry, "longvideo_film_segments_rendered", 'namespace="demo",name="harbour"')).toBe(4);
    expect(await sample(registry, "longvideo_film_segments_rendered", 'namespace="demo",name="kite"')).toBeUndefined();
  });
});

describe("filmProgressOf", () => {
  it("reads status.progress, and nothing from a film without one", () => {
    expect(filmProgressOf("demo", "harbour", "3/8")).toEqual({
      namespace: "demo",
      name: "harbour",
      rendered: 3,
      planned: 8,
    });
    expect(filmProgressOf("demo", "new", undefined)).toBeUndefined();
    expect(filmProgressOf("demo", "odd", "3 of 8")).toBeUndefined();
  });
});

describe("the Grafana dashboard", () => {
  it("reads only metrics the operator exports, the per-film progress panel among them", async () => {
    const registry = new Registry();
    new OperatorMetrics(registry, "api:6443");
    const exported = new Set((await registry.getMetricsAsJSON()).map((m) => m.name));
    const file = path.resolve(import.meta.dirname, "../../charts/longvideo-operator/files/grafana-dashboard.json");
    const dashboard = JSON.parse(readFileSync(file, "utf8")) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    const progress = dashboard.panels.find((p) => p.title === "Film progress");
    expect(progress?.targets[0]?.expr).toContain("longvideo_film_segments_rendered");
    const names = dashboard.panels.flatMap((p) =>
      p.targets.flatMap((t) => [
        ...t.expr.matchAll(/\b(longvideo_[a-z_]+|controller_runtime_[a-z_]+|workqueue_[a-z_]+)/g),
      ]),
    );
    for (const [name] of names) expect(exported, name).toContain(name.replace(/_bucket$/, ""));
  });
});

describe("OperatorMetrics.workQueueObserver", () => {
  it("measures the queue wait of hand-off and routine work apart, by a priority label", async () => {
    const registry = new Registry();
    const observer = new OperatorMetrics(registry, "api:6443").workQueueObserver("longvideo");
    observer.queued(0.002, "handoff");
    observer.queued(0.3, "routine");
    observer.queued(0.4, "routine");
    const count = (priority: string) =>
      sample(registry, "workqueue_queue_duration_seconds_count", `name="longvideo",priority="${priority}"`);
    expect(await count("handoff")).toBe(1);
    expect(await count("routine")).toBe(2);
  });
});

describe("OperatorMetrics.restClientObserver", () => {
  it("counts requests by method and resource, so what a segment costs can be split", async () => {
    const registry = new Registry();
    const observer = new OperatorMetrics(registry, "api:6443").restClientObserver();
    observer.requestDone("POST", "201", 0.01, "jobs");
    observer.requestDone("POST", "201", 0.01, "events");
    observer.requestDone("POST", "201", 0.01, "events");
    observer.requestDone("PATCH", "200", 0.01, "longvideos/status");
    const count = (method: string, resource: string) =>
      sample(
        registry,
        "rest_client_requests_total",
        `code="${method === "POST" ? "201" : "200"}",method="${method}",host="api:6443",resource="${resource}"`,
      );
    expect(await count("POST", "events")).toBe(2);
    expect(await count("POST", "jobs")).toBe(1);
    expect(await count("PATCH", "longvideos/status")).toBe(1);
  });
});
