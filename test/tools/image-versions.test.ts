/**
 * What `make images-push` publishes and what the chart installs agree: one version (package.json's, the chart's
 * appVersion, every image definition's org.opencontainers.image.version label, the chart's default runtime tag),
 * one source URL (the labels, package.json's repository, the chart's home), no revision in any definition (it
 * would change every digest on every commit; the push adds it), and the registry values example renders the
 * registry's images at that version. Runs the pinned helm.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { chartDir, helmTemplate, renderedObjects } from "../support/pinned-helm.ts";

const repoRoot = path.resolve(import.meta.dirname, "../..");
const read = (file: string) => readFileSync(path.join(repoRoot, file), "utf8");
const packageJson = JSON.parse(read("package.json")) as { version: string; repository?: { url?: string } };
const chart = parse(read("charts/longvideo-operator/Chart.yaml")) as {
  appVersion: string;
  home?: string;
  sources?: string[];
};
const source = "https://github.com/longvideo/longvideo-operator";
const definitions = ["test/images/operator.json", "runtime-image/cpu-image.json", "runtime-image/gpu-image.json"];

interface DeploymentView {
  kind: string;
  spec?: {
    template?: { spec?: { containers: { image: string; env?: { name: string; value?: string }[] }[] } };
  };
}

describe("the published images' version and source", () => {
  it("is package.json's version, the chart's appVersion and the chart's default runtime tag", () => {
    expect(chart.appVersion).toBe(packageJson.version);
    const values = parse(read("charts/longvideo-operator/values.yaml")) as { runtime: { image: string } };
    expect(values.runtime.image.split(":").at(-1)).toBe(chart.appVersion);
  });

  it.each(definitions)("is in %s's labels, with its title and no revision", (file) => {
    const labels =
      (JSON.parse(read(file)) as { config: { Labels?: Record<string, string> } }).config.Labels ?? ({} as const);
    expect(labels["org.opencontainers.image.version"]).toBe(packageJson.version);
    expect(labels["org.opencontainers.image.source"]).toBe(source);
    expect(labels["org.opencontainers.image.title"]).toMatch(/^longvideo-/);
    expect(Object.keys(labels)).not.toContain("org.opencontainers.image.revision");
  });

  it("is the repository of package.json and the chart's home and sources", () => {
    expect(packageJson.repository?.url).toBe(`git+${source}.git`);
    expect(chart.home).toBe(source);
    expect(chart.sources).toEqual([source]);
  });

  it("renders the registry's operator and runtime images at the appVersion from values-registry-example.yaml", () => {
    const objects = renderedObjects<DeploymentView>(
      helmTemplate(
        { name: "longvideo-operator", namespace: "longvideo-system" },
        [],
        ["-f", path.join(chartDir, "values-registry-example.yaml")],
      ),
    );
    const container = objects.find((o) => o.kind === "Deployment")?.spec?.template?.spec?.containers[0];
    expect(container?.image).toBe(`registry.example.com/longvideo/operator:${chart.appVersion}`);
    const env = Object.fromEntries((container?.env ?? []).map((e) => [e.name, e.value]));
    expect(env.LV_RUNTIME_IMAGE).toBe(`registry.example.com/longvideo/runtime:${chart.appVersion}`);
  });
});
