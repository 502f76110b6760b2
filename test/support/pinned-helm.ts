/**
 * The pinned helm (test/cluster/versions.env; `make binaries` builds it), as the chart's tests and the integration
 * tests that apply what the chart renders run it. Without it they fail rather than skip.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseAllDocuments } from "yaml";

const repoRoot = path.resolve(import.meta.dirname, "../..");

/** The chart's directory. */
export const chartDir = path.join(repoRoot, "charts/longvideo-operator");

/** A version pinned in test/cluster/versions.env. */
export function pinnedVersion(name: string): string {
  const versions = readFileSync(path.join(repoRoot, "test/cluster/versions.env"), "utf8");
  const version = new RegExp(`^${name}=(\\S+)$`, "m").exec(versions)?.[1];
  if (!version) throw new Error(`${name} is not pinned in test/cluster/versions.env`);
  return version;
}

/** The pinned helm, where test/cluster/env.sh puts it. */
function helmBinary(): string {
  const cache =
    process.env.LV_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "longvideo");
  const version = pinnedVersion("HELM_VERSION");
  const binary = path.join(cache, "bin", `helm-${version}`, "helm");
  if (!existsSync(binary)) {
    throw new Error(`helm ${version} is not installed at ${binary}: run \`make binaries\` to build it`);
  }
  return binary;
}

/** Runs the pinned helm, returning its standard output; throws with its stderr. */
export function helm(...args: string[]): string {
  const binary = helmBinary();
  try {
    return execFileSync(binary, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    const failed = error as { stderr?: string; stdout?: string; message: string };
    throw new Error(`helm ${args.join(" ")} failed:\n${failed.stderr ?? failed.message}${failed.stdout ?? ""}`, {
      cause: error,
    });
  }
}

/**
 * `helm template` of the chart for a release, with `--set` values and further arguments (`--include-crds`,
 * `--show-only <template>`). The pinned helm is built without Kubernetes version stamps: it would check the chart's
 * kubeVersion against v1.20, hence `--kube-version`.
 */
export function helmTemplate(
  release: { readonly name: string; readonly namespace: string },
  values: readonly string[] = [],
  args: readonly string[] = [],
): string {
  return helm(
    "template",
    release.name,
    chartDir,
    "--namespace",
    release.namespace,
    "--kube-version",
    pinnedVersion("KUBERNETES_VERSION"),
    ...values.flatMap((value) => ["--set", value]),
    ...args,
  );
}

/** The objects of a multi-document YAML text (what `helm template` prints), as the caller views them. */
export function renderedObjects<T>(text: string): T[] {
  return parseAllDocuments(text)
    .map((document) => {
      if (document.errors.length > 0) throw new Error(document.errors.map((e) => e.message).join("\n"));
      return document.toJS() as T | null;
    })
    .filter((object): object is T => object !== null);
}
