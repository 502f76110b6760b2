/**
 * The `longvideo` CLI against a film rendered on the real node: `watch` follows it to the end, `logs` reads a
 * segment's worker log, `fetch` copies the film, its clips and contact sheet out of the workspace through a
 * short-lived restricted pod (the films' namespace enforces the `restricted` Pod Security level), and each says
 * what is wrong when it cannot: no such film, not finished yet, no permission.
 *
 * The operator runs as a process (as `make run` runs it) watching only this test's namespace, with the CPU runtime
 * image and the busybox image loaded into the real node.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { startOperator } from "../support/operator-process.ts";
import type { OperatorProcess } from "../support/operator-process.ts";
import { localClusterKubeconfig } from "../support/test-kube-config.ts";
import {
  applyFilmObject,
  createReferenceImage,
  ensureRestrictedNamespace,
  kubectl,
  readFilm,
  repoRoot,
  run,
  videoFacts,
} from "./film-demo.ts";

const namespace = `lv-e2e-cli-${randomBytes(3).toString("hex")}`;
const leaseNamespace = `${namespace}-lease`;
const kubeconfig = process.env.KUBECONFIG ?? localClusterKubeconfig;
const busybox = "localhost/longvideo/busybox:bookworm";
const cli = path.join(repoRoot, "src/cli/longvideo.ts");
const out = mkdtempSync(path.join(tmpdir(), "lv-cli-e2e-"));
let operator: OperatorProcess | undefined;

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI as a user would, with a kubeconfig; resolves when it exits. */
function longvideo(args: readonly string[], config = kubeconfig): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], {
      env: { ...process.env, KUBECONFIG: config },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.once("close", (status) => {
      resolve({ status, stdout, stderr });
    });
  });
}

/** A three-segment animatic film on the real node, as small as the API allows. */
function smallFilm(name: string, suspend = false) {
  return {
    apiVersion: "longvideo.dev/v1alpha1",
    kind: "LongVideo",
    metadata: { name },
    spec: {
      variant: "film",
      referenceImage: { configMap: { name: "harbour-still", key: "image.png" } },
      storyline: [
        { prompt: "Dawn over a small fishing harbour.", clips: 2 },
        { prompt: "A trawler leaves past the lighthouse.", clips: 1 },
      ],
      render: { backend: "animatic", resolution: { width: 320, height: 256 }, fps: 8, framesPerClip: 17 },
      gpu: { nodeSelector: { "longvideo.dev/pool": "local" }, tolerations: [] },
      storage: { workspace: { size: "1Gi" } },
      retry: { limit: 0 },
      suspend,
    },
  };
}

/** A kubeconfig for a service account that may do nothing at all. */
function powerlessKubeconfig(): string {
  kubectl("create", "serviceaccount", "nobody", "-n", namespace);
  const token = kubectl("create", "token", "nobody", "-n", namespace, "--duration=10m").trim();
  const admin = parse(readFileSync(kubeconfig, "utf8")) as {
    clusters: { name: string; cluster: Record<string, unknown> }[];
  };
  const cluster = admin.clusters[0];
  if (!cluster) throw new Error("no cluster in the kubeconfig");
  const file = path.join(out, "nobody.kubeconfig");
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "local", cluster: cluster.cluster }],
      users: [{ name: "nobody", user: { token } }],
      contexts: [{ name: "nobody", context: { cluster: "local", user: "nobody", namespace } }],
      "current-context": "nobody",
    }),
  );
  return file;
}

beforeAll(async () => {
  run("bash", [path.join(repoRoot, "test/images/load-images.sh"), "runtime", "busybox"]);
  kubectl(
    "apply",
    "--server-side",
    "--force-conflicts",
    "-f",
    path.join(repoRoot, "crds/longvideo.dev_longvideos.yaml"),
  );
  kubectl("wait", "--for=condition=Established", "crd/longvideos.longvideo.dev", "--timeout=60s");
  ensureRestrictedNamespace(namespace);
  createReferenceImage(namespace, "harbour-still", "image.png", "320x256");
  operator = await startOperator({
    identity: "cli-e2e",
    leaseNamespace,
    env: {
      LV_WATCH_NAMESPACES: namespace,
      LV_LOG_LEVEL: "info",
      LV_RUNTIME_IMAGE: "localhost/longvideo/runtime:dev",
      LV_RUNTIME_IMAGE_PULL_POLICY: "Never",
      LV_DEFAULT_BACKEND: "animatic",
    },
  });
}, 900_000);

afterAll(async () => {
  kubectl("delete", "namespace", namespace, "--ignore-not-found", "--timeout=180s");
  await operator?.stop();
  kubectl("delete", "namespace", leaseNamespace, "--ignore-not-found", "--wait=false");
}, 300_000);

describe("the longvideo CLI on a film rendered on the real node", () => {
  it("watch: follows the film and each segment to the end, with bars, and says how it ended", async () => {
    applyFilmObject(namespace, smallFilm("quay"));
    const watched = await longvideo(["watch", "quay", "-n", namespace]);
    expect(watched.status, watched.stderr).toBe(0);
    expect(watched.stdout).toBe(
      `${namespace}/quay Succeeded 3/3: the film is at /workspace/film.mp4; its contact sheet at /workspace/film.contact.png\n`,
    );
    // Bars for the film and every segment (printed every 2s when standard error is not a terminal).
    expect(watched.stderr).toMatch(new RegExp(`${namespace}/quay\\s+[█░]+ 3/3 Succeeded`));
    expect(watched.stderr).toMatch(/segment 2\s+[█░]+ rendered in/);
  }, 600_000);

  it("logs: prints the latest attempt's worker log of one segment, and names the range when out of it", async () => {
    const logs = await longvideo(["logs", "quay", "--segment", "1", "-n", namespace]);
    expect(logs.status, logs.stderr).toBe(0);
    expect(logs.stderr).toMatch(/^pod quay-/);
    expect(logs.stdout).toContain('"event": "render-done", "segment": 1');
    const outside = await longvideo(["logs", "quay", "--segment", "3", "-n", namespace]);
    expect(outside.status).toBe(1);
    expect(outside.stderr).toBe("longvideo: quay has 3 segment(s): --segment takes 0 to 2\n");
  });

  it("fetch: copies the film, its clips and contact sheet through a restricted pod that is gone after", async () => {
    const dir = path.join(out, "fetched");
    const fetched = await longvideo(["fetch", "quay", "-n", namespace, "-o", dir, "--image", busybox]);
    expect(fetched.status, fetched.stderr).toBe(0);
    expect(fetched.stdout).toBe(
      `film:          ${dir}/quay.mp4\nclips:         3 in ${dir}/clips\ncontact sheet: ${dir}/quay.contact.png\n`,
    );
    const output = readFilm(namespace, "quay").status?.output;
    const facts = videoFacts(path.join(dir, "quay.mp4"));
    expect(facts.frames).toBe(output?.frames);
    expect(facts.seconds).toBeCloseTo(output?.seconds ?? 0, 1);
    expect(readdirSync(path.join(dir, "clips")).sort()).toEqual([
      "quay-segment-000.mp4",
      "quay-segment-001.mp4",
      "quay-segment-002.mp4",
    ]);
    const clipFrames = readdirSync(path.join(dir, "clips")).map((f) => videoFacts(path.join(dir, "clips", f)).frames);
    expect(clipFrames.reduce((a, b) => a + b, 0)).toBe(output?.frames);
    expect(readFileSync(path.join(dir, "quay.contact.png")).subarray(1, 4).toString()).toBe("PNG");
    expect(kubectl("get", "pods", "-n", namespace, "-l", "longvideo.dev/fetch", "-o", "name")).toBe("");
  });

  it("says what is wrong: no such film, not finished yet, no permission", async () => {
    const missing = await longvideo(["fetch", "nowhere", "-n", namespace, "--image", busybox]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toBe(`longvideo: no such film: LongVideo nowhere in namespace ${namespace}\n`);

    applyFilmObject(namespace, smallFilm("held", true));
    for (let i = 0; i < 120 && readFilm(namespace, "held").status?.phase !== "Suspended"; i++) await sleep(500);
    const early = await longvideo(["fetch", "held", "-n", namespace, "--image", busybox]);
    expect(early.status).toBe(1);
    expect(early.stderr).toMatch(new RegExp(`^longvideo: held is not finished yet: ${namespace}/held Suspended 0/3`));
    expect(existsSync("out/held.mp4")).toBe(false);

    const nobody = powerlessKubeconfig();
    const refused = await longvideo(["watch", "quay"], nobody);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(
      new RegExp(`^longvideo: no permission to read LongVideo ${namespace}/quay: .*forbidden`),
    );
    const fetchRefused = await longvideo(["logs", "quay", "--segment", "0"], nobody);
    expect(fetchRefused.stderr).toMatch(/^longvideo: no permission to read LongVideo/);
  }, 300_000);
});
