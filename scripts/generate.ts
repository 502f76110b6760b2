/**
 * Regenerates every derived file: the LongVideo CRD in `crds/` (from the zod schemas) and, when the Helm chart has
 * a `crds/` directory, the chart's copy; the plain install YAML in `manifests/` and the chart's RBAC rules (from
 * the install facts in `src/install`); the chart's README.md with its values table (from `values.yaml` and
 * `values.schema.json`, as helm-docs writes one); the operator <-> runtime contract the Python worker reads (from
 * `src/api/runtime-contract.ts`); the GPU runtime image's Dockerfile (from its image definition). With `--check` it writes nothing and fails when a committed file differs
 * from what it would write, naming the stale files.
 *
 *   node scripts/generate.ts          # write
 *   node scripts/generate.ts --check  # verify (make test runs this)
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import process from "node:process";
import { crdYaml } from "../src/api/crd-yaml.ts";
import { runtimeContractJson } from "../src/api/runtime-contract.ts";
import { parse } from "yaml";
import { chartReadme } from "../src/install/chart-readme.ts";
import { installYaml, rbacRulesYaml } from "../src/install/install-yaml.ts";
import { runtimeDockerfile } from "./runtime-dockerfile.ts";
import type { RuntimeImageDefinition } from "./runtime-dockerfile.ts";

const root = path.resolve(import.meta.dirname, "..");
const crdFile = "crds/longvideo.dev_longvideos.yaml";
const chartCrdDir = "charts/longvideo-operator/crds";
const installFile = "manifests/install.yaml";
const chartRbacRulesFile = "charts/longvideo-operator/files/rbac-rules.yaml";
const runtimeContractFile = "runtime-image/src/longvideo_runtime/contract.json";
const chartDir = "charts/longvideo-operator";
const gpuImageDefinition = "runtime-image/gpu-image.json";

/** The chart's README.md from its template, Chart.yaml, values.yaml and values.schema.json (helm-docs' way). */
function chartReadmeText(): string {
  const read = (file: string) => readFileSync(path.join(root, chartDir, file), "utf8");
  const chart = parse(read("Chart.yaml")) as { name: string; version: string; appVersion: string; description: string };
  return chartReadme(
    read("README.md.gotmpl"),
    chart,
    read("values.yaml"),
    JSON.parse(read("values.schema.json")) as object,
  );
}

function generatedFiles(): { file: string; content: string }[] {
  const content = crdYaml();
  const files = [{ file: crdFile, content }];
  if (existsSync(path.join(root, chartCrdDir)))
    files.push({ file: `${chartCrdDir}/longvideo.dev_longvideos.yaml`, content });
  files.push(
    { file: installFile, content: installYaml() },
    { file: chartRbacRulesFile, content: rbacRulesYaml() },
    { file: runtimeContractFile, content: runtimeContractJson() },
    { file: `${chartDir}/README.md`, content: chartReadmeText() },
    {
      file: "runtime-image/Dockerfile",
      content: runtimeDockerfile(
        JSON.parse(readFileSync(path.join(root, gpuImageDefinition), "utf8")) as RuntimeImageDefinition,
        gpuImageDefinition,
      ),
    },
  );
  return files;
}

function main(check: boolean): number {
  const stale: string[] = [];
  for (const { file, content } of generatedFiles()) {
    const target = path.join(root, file);
    const current = existsSync(target) ? readFileSync(target, "utf8") : undefined;
    if (current === content) continue;
    if (check) stale.push(file);
    else {
      writeFileSync(target, content);
      process.stdout.write(`wrote ${file}\n`);
    }
  }
  if (stale.length > 0) {
    process.stderr.write(`stale generated files (run \`npm run generate\`):\n  ${stale.join("\n  ")}\n`);
    return 1;
  }
  return 0;
}

process.exitCode = main(process.argv.includes("--check"));
