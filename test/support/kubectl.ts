/** Command-line tools (kubectl, helm) run against the local cluster, as the tests, the demo and the benchmark do. */
import { execFileSync } from "node:child_process";
import { localClusterKubeconfig } from "./test-kube-config.ts";

/** Runs a command with the local cluster's kubeconfig, returning its standard output; throws with its stderr. */
export function run(command: string, args: readonly string[], input?: string): string {
  try {
    return execFileSync(command, args, {
      env: { ...process.env, KUBECONFIG: process.env.KUBECONFIG ?? localClusterKubeconfig },
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024,
      ...(input === undefined ? {} : { input }),
      stdio: ["pipe", "pipe", "pipe"],
    });
  } catch (error) {
    const failed = error as { stderr?: string; stdout?: string };
    throw new Error(`${command} ${args.join(" ")} failed:\n${failed.stderr ?? ""}${failed.stdout ?? ""}`, {
      cause: error,
    });
  }
}

export const kubectl = (...args: string[]): string => run("kubectl", args);
