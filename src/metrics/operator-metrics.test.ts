import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
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
});
