/**
 * The floor under the operator's memory: RSS of a Node process that has only imported what the compiled `main.js`
 * imports, beside bare Node, with the same flags as the operator. Run directly (`node test/bench/import-floor.ts`)
 * it compiles src/ into .cache/bench/import-floor and prints both figures and the packages the imports loaded;
 * `make bench-scale` uses {@link importFloorMiB} on its own build.
 *
 * Environment: LV_BENCH_NODE_OPTIONS (the chart's nodeOptions).
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { parse } from "yaml";

const repoRoot = path.resolve(import.meta.dirname, "../..");
const mib = 2 ** 20;

/** The chart's `nodeOptions`, unless LV_BENCH_NODE_OPTIONS overrides them. */
export function operatorNodeOptions(): string {
  const chartValues = parse(readFileSync(path.join(repoRoot, "charts/longvideo-operator/values.yaml"), "utf8")) as {
    nodeOptions?: string;
  };
  return process.env.LV_BENCH_NODE_OPTIONS ?? chartValues.nodeOptions ?? "";
}

/** The modules `main.js` in `dist` imports, as URLs or package names a `-e` script in the repository resolves. */
function mainImports(dist: string): string[] {
  const mainSource = readFileSync(path.join(dist, "main.js"), "utf8");
  const specifiers = [...mainSource.matchAll(/^import\s[^"']*["']([^"']+)["'];?$/gm)].map((m) => m[1] ?? "");
  return specifiers.map((s) => (s.startsWith(".") ? pathToFileURL(path.join(dist, s)).href : s));
}

function runScript(nodeOptions: string, script: string): string {
  return execFileSync(
    process.execPath,
    [...nodeOptions.split(/\s+/).filter(Boolean), "--input-type=module", "-e", script],
    { cwd: repoRoot, encoding: "utf8" },
  );
}

/**
 * RSS of a Node process (with `nodeOptions`) that has only imported what `dist/main.js` imports, and of one that
 * imported nothing.
 */
export function importFloorMiB(dist: string, nodeOptions: string): { bare: number; imported: number } {
  const measure = (imports: readonly string[]) =>
    Number(
      runScript(
        nodeOptions,
        imports.map((u) => `await import(${JSON.stringify(u)});`).join("") +
          "globalThis.gc?.(); process.stdout.write(String(process.memoryUsage.rss()));",
      ),
    ) / mib;
  return { bare: measure([]), imported: measure(mainImports(dist)) };
}

/**
 * The packages under node_modules that importing what `dist/main.js` imports loads, by name: the proof that a
 * package is, or is no longer, part of the operator's runtime.
 */
export function importedPackages(dist: string, nodeOptions: string): string[] {
  const script =
    `import { registerHooks } from "node:module";` +
    `const seen = new Set();` +
    `registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context);` +
    ` const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(r.url); if (m) seen.add(m[1]); return r; } });` +
    mainImports(dist)
      .map((u) => `await import(${JSON.stringify(u)});`)
      .join("") +
    `process.stdout.write(JSON.stringify([...seen].sort()));`;
  return JSON.parse(runScript(nodeOptions, script)) as string[];
}

if (import.meta.main) {
  const dist = path.join(repoRoot, ".cache/bench/import-floor");
  execFileSync(
    path.join(repoRoot, "node_modules/.bin/tsc"),
    ["-p", path.join(repoRoot, "tsconfig.build.json"), "--outDir", dist],
    { stdio: "inherit" },
  );
  const nodeOptions = operatorNodeOptions();
  const runs = Number(process.env.LV_BENCH_RUNS ?? "3");
  const floors = Array.from({ length: runs }, () => importFloorMiB(dist, nodeOptions));
  const range = (values: readonly number[]) =>
    `${Math.min(...values).toFixed(1)}-${Math.max(...values).toFixed(1)} MiB`;
  console.log(`node options: ${nodeOptions || "(none)"}; ${String(runs)} runs each`);
  console.log(`RSS, bare Node:                    ${range(floors.map((f) => f.bare))}`);
  console.log(`RSS after what main.js imports:    ${range(floors.map((f) => f.imported))}`);
  console.log(`packages loaded: ${importedPackages(dist, nodeOptions).join(", ")}`);
}
