/**
 * A real Prometheus (Debian's package) for the end-to-end test: it scrapes every replica behind the operator's
 * metrics Service, loads the chart's recording and alerting rules, and answers PromQL over HTTP.
 *
 * Debian builds Prometheus without Kubernetes service discovery, so the targets come from the Service's
 * EndpointSlices (the port named `http-metrics`, as the chart's ServiceMonitor selects it), read through the API
 * server and written to a file_sd target file.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { chartDir, kubectl, repoRoot } from "./film-demo.ts";
import { freePort } from "../support/free-port.ts";

export interface TestPrometheus {
  readonly url: string;
  /** Instant query; the result vector (empty when the query has no data). */
  query(expr: string): Promise<readonly { metric: Record<string, string>; value: [number, string] }[]>;
  /** Health of every loaded rule, by rule name. */
  rules(): Promise<readonly { name: string; health: string; lastError?: string; state?: string }[]>;
  logs(): string;
  stop(): Promise<void>;
}

interface EndpointSlice {
  ports?: { name?: string; port?: number }[];
  endpoints?: { addresses: string[]; conditions?: { ready?: boolean }; targetRef?: { kind: string; name: string } }[];
}

/** file_sd targets for the Service's ready endpoints on its `http-metrics` port, labelled with their pods. */
function serviceTargets(
  namespace: string,
  serviceName: string,
): { targets: string[]; labels: Record<string, string> }[] {
  const slices = JSON.parse(
    kubectl("get", "endpointslices", "-n", namespace, "-l", `kubernetes.io/service-name=${serviceName}`, "-o", "json"),
  ) as { items: EndpointSlice[] };
  return slices.items.flatMap((slice) => {
    const port = slice.ports?.find((p) => p.name === "http-metrics")?.port;
    if (port === undefined) return [];
    return (slice.endpoints ?? [])
      .filter((e) => e.conditions?.ready !== false)
      .flatMap((e) =>
        e.addresses.map((address) => ({
          targets: [`${address}:${String(port)}`],
          labels: { namespace, service: serviceName, pod: e.targetRef?.name ?? "" },
        })),
      );
  });
}

export async function startPrometheus(options: {
  readonly namespace: string;
  readonly serviceName: string;
}): Promise<TestPrometheus> {
  const dir = path.join(repoRoot, ".cache/e2e/prometheus");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(path.join(dir, "data"), { recursive: true });
  const targetsFile = path.join(dir, "targets.json");
  const targets = serviceTargets(options.namespace, options.serviceName);
  if (targets.length === 0)
    throw new Error(`service ${options.namespace}/${options.serviceName} has no ready endpoints`);
  writeFileSync(targetsFile, JSON.stringify(targets));
  // The job name is what the chart's ServiceMonitor yields (its jobLabel, app.kubernetes.io/name), so the
  // chart's alerts that select on job see this scrape.
  const config = {
    global: { scrape_interval: "2s", evaluation_interval: "2s" },
    rule_files: [path.join(chartDir, "files/prometheus-rules.yaml")],
    scrape_configs: [
      {
        job_name: "longvideo-operator",
        file_sd_configs: [{ files: [targetsFile], refresh_interval: "5s" }],
      },
    ],
  };
  const configFile = path.join(dir, "prometheus.yml");
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const port = await freePort();
  let output = "";
  const child: ChildProcess = spawn(
    "prometheus",
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${path.join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${String(port)}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => {
      resolve();
    });
  });
  const url = `http://127.0.0.1:${String(port)}`;
  const api = async <T>(endpoint: string): Promise<T> => {
    const response = await fetch(`${url}${endpoint}`);
    const body = (await response.json()) as { status: string; data: T; error?: string };
    if (body.status !== "success") throw new Error(`prometheus ${endpoint}: ${body.error ?? response.statusText}`);
    return body.data;
  };
  for (let attempt = 0; ; attempt++) {
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch {
      // Not listening yet.
    }
    if (attempt > 300 || child.exitCode !== null) throw new Error(`prometheus did not become ready:\n${output}`);
    await sleep(100);
  }
  return {
    url,
    query: async (expr) =>
      (
        await api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(
          `/api/v1/query?query=${encodeURIComponent(expr)}`,
        )
      ).result,
    rules: async () =>
      (
        await api<{ groups: { rules: { name: string; health: string; lastError?: string; state?: string }[] }[] }>(
          "/api/v1/rules",
        )
      ).groups.flatMap((g) => g.rules),
    logs: () => output,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}
