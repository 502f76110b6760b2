/**
 * Regenerates every derived file: the LongVideo CRD in `crds/` (from the zod schemas) and, when the Helm chart has
 * a `crds/` directory, the chart's copy; the plain install YAML in `manifests/` and the chart's RBAC rules (from
 * the install facts in `src/install`); the operator <-> runtime contract the Python worker reads (from
 * `src/api/runtime-contract.ts`). With `--check` it writes nothing and fails when a committed file differs
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
import { installYaml, rbacRulesYaml } from "../src/install/install-yaml.ts";

const root = path.resolve(import.meta.dirname, "..");
const crdFile = "crds/longvideo.dev_longvideos.yaml";
const chartCrdDir = "charts/longvideo-operator/crds";
const installFile = "manifests/install.yaml";
const chartRbacRulesFile = "charts/longvideo-operator/files/rbac-rules.yaml";
const runtimeContractFile = "runtime-image/src/longvideo_runtime/contract.json";

function generatedFiles(): { file: string; content: string }[] {
  const content = crdYaml();
  const files = [{ file: crdFile, content }];
  if (existsSync(path.join(root, chartCrdDir)))
    files.push({ file: `${chartCrdDir}/longvideo.dev_longvideos.yaml`, content });
  files.push(
    { file: installFile, content: installYaml() },
    { file: chartRbacRulesFile, content: rbacRulesYaml() },
    { file: runtimeContractFile, content: runtimeContractJson() },
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
