import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import path from "node:path";
import { localClusterKubeconfig } from "./test-kube-config.ts";
import { freePort } from "./free-port.ts";

const repoRoot = path.resolve(import.meta.dirname, "../..");

/**
 * The film policy of operators started here: what the test films ask for (kwok pools by `longvideo.dev/pool`, the
 * GPU taint, kwok's stage annotations, lost-node tolerations) and nothing more. The policy tests give their own.
 */
export const testFilmPolicy = {
  nodeLabelKeys: ["longvideo.dev/pool", "nvidia.com/gpu.product"],
  tolerations: [
    { key: "nvidia.com/gpu" },
    { key: "node.kubernetes.io/not-ready", effects: ["NoExecute"] },
    { key: "node.kubernetes.io/unreachable", effects: ["NoExecute"] },
  ],
  podLabelPrefixes: ["app.kubernetes.io/", "team"],
  podAnnotationPrefixes: ["sim.longvideo.dev/"],
};

/** An operator running as its own process against the local cluster, the way `make run` starts it. */
export interface OperatorProcess {
  readonly identity: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** Everything the process logged so far (JSON lines). */
  logs(): string;
  /** Fetches one of its HTTP endpoints. */
  get(endpoint: string): Promise<{ status: number; text: string }>;
  /**
   * Signals the process and waits for it to exit. A process that has not exited `graceMs` after the signal is
   * killed, and stop() fails with its last log lines: a replica that does not shut down is a bug to see, not wait on.
   */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>;
}

export async function startOperator(options: {
  identity: string;
  leaseNamespace: string;
  env?: Record<string, string>;
  /** The script to run: the TypeScript source by default, or compiled JavaScript as the image ships it. */
  entry?: string;
}): Promise<OperatorProcess> {
  const port = await freePort();
  let output = "";
  const child = spawn(process.execPath, [options.entry ?? path.join(repoRoot, "src/main.ts")], {
    cwd: repoRoot,
    env: {
      ...process.env,
      KUBECONFIG: process.env.KUBECONFIG ?? localClusterKubeconfig,
      POD_NAME: options.identity,
      LV_NAMESPACE: options.leaseNamespace,
      LV_HTTP_PORT: String(port),
      LV_LOG_LEVEL: "debug",
      LV_LEASE_DURATION_SECONDS: "6",
      LV_RENEW_DEADLINE_SECONDS: "4",
      LV_RETRY_PERIOD_SECONDS: "1",
      LV_FILM_POLICY: JSON.stringify(testFilmPolicy),
      ...options.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => {
      resolve(code);
    }),
  );
  const operator: OperatorProcess = {
    identity: options.identity,
    port,
    child,
    logs: () => output,
    get: async (endpoint) => {
      const response = await fetch(`http://127.0.0.1:${String(port)}${endpoint}`);
      return { status: response.status, text: await response.text() };
    },
    stop: async (signal = "SIGTERM", graceMs = 30_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<"late">((resolve) => (timer = setTimeout(resolve, graceMs, "late")));
      const ended = await Promise.race([exited, late]);
      clearTimeout(timer);
      if (ended !== "late") return ended;
      child.kill("SIGKILL");
      await exited;
      const tail = output.trimEnd().split("\n").slice(-40).join("\n");
      throw new Error(
        `operator ${options.identity} did not exit within ${String(graceMs)} ms of ${signal}; its last log lines:\n${tail}`,
      );
    },
  };
  // Up means the HTTP endpoints answer; readiness is for the caller to wait on as it needs.
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`operator exited with ${String(child.exitCode)}:\n${output}`);
    try {
      await operator.get("/healthz");
      return operator;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  await operator.stop("SIGKILL");
  throw new Error(`operator did not start:\n${output}`);
}
