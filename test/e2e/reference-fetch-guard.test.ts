/**
 * End to end on the local cluster: a film's `referenceImage.url` is fetched by its segment pod under the
 * operator's fetch policy (docs/adr/0015-guarded-reference-fetch.md). The chart is installed with Helm, the CPU
 * runtime image runs on the real node, and this test serves the image from the host over HTTP, where pods reach it
 * at the pod bridge's address 10.88.0.1: a private address, inside the cluster's pod range 10.88.0.0/16.
 *
 * - With the chart's defaults, a film naming that server fails on bad input, refused (private) before any request
 *   reaches the server; neither the film's status, its events nor its pod says the address or the port.
 * - Upgraded with fetch.allowCidrs=[10.88.0.1/32] and fetch.clusterCidrs=[10.88.0.0/16] (the more specific range
 *   wins), a film redirected by that server to the cloud metadata address fails at the redirect (link-local), one
 *   redirected to another pod address fails there (cluster network), and one served the PNG itself renders.
 *
 * Every film is applied by a user who may only create and read LongVideos in the films' namespace, as a tenant
 * would try to reach the cluster's network through the operator.
 *
 * The operator watches every namespace, so this file refuses to start while another release's operator exists,
 * and uninstalls its own in afterAll.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  applyFilmObject,
  ensureRestrictedNamespace,
  installOperator,
  kubectl,
  loadImages,
  otherOperators,
  run,
  watchFilm,
} from "./film-demo.ts";
import type { FilmView } from "./film-demo.ts";

const release = { name: "lv-fetch", namespace: "lv-e2e-fetch-system" };
const filmsNamespace = "lv-e2e-fetch-films";
/** The films' author: a user who may only create and read LongVideos in their namespace. */
const tenant = "lv-e2e-fetch-tenant";

/** Lets `tenant` create and read LongVideos in the films' namespace, and nothing else. */
function grantTenant(): void {
  kubectl("-n", filmsNamespace, "delete", "role,rolebinding", "longvideo-author", "--ignore-not-found");
  kubectl(
    "-n",
    filmsNamespace,
    "create",
    "role",
    "longvideo-author",
    "--verb=get,list,watch,create,patch,update",
    "--resource=longvideos.longvideo.dev",
  );
  kubectl(
    "-n",
    filmsNamespace,
    "create",
    "rolebinding",
    "longvideo-author",
    "--role=longvideo-author",
    `--user=${tenant}`,
  );
}
/** The pod bridge's address on the real node: how a pod reaches this host (test/cluster/cluster-up.sh). */
const bridge = "10.88.0.1";
const podCidr = "10.88.0.0/16";
const size = 256;

const say = (line: string) => {
  process.stdout.write(`[fetch-guard e2e ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
};

/** An HTTP server on every address of this host: the image, and redirects to refused addresses. */
class ImageServer {
  readonly requests: { path: string; host: string | undefined; userAgent: string | undefined }[] = [];
  readonly #server: http.Server;
  readonly #png: Buffer;

  constructor(png: Buffer) {
    this.#png = png;
    this.#server = http.createServer((request, response) => {
      const requestPath = request.url ?? "";
      this.requests.push({ path: requestPath, host: request.headers.host, userAgent: request.headers["user-agent"] });
      const redirects: Record<string, string> = {
        "/to-metadata": "http://169.254.169.254/latest/meta-data/",
        "/to-pod": `http://10.88.0.2:${String(this.port)}/ref.png`,
      };
      const location = redirects[requestPath];
      if (location) {
        response.writeHead(302, { location }).end();
      } else if (requestPath === "/ref.png") {
        response.writeHead(200, { "content-type": "image/png", "content-length": this.#png.length }).end(this.#png);
      } else {
        response.writeHead(404).end();
      }
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, "0.0.0.0", resolve));
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  url(requestPath: string): string {
    return `http://${bridge}:${String(this.port)}${requestPath}`;
  }

  requested(requestPath: string): number {
    return this.requests.filter((r) => r.path === requestPath).length;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

/** A one-clip animatic film whose first frame is fetched from `url`; a failure is final. */
function urlFilm(name: string, url: string) {
  return {
    apiVersion: "longvideo.dev/v1alpha1",
    kind: "LongVideo",
    metadata: { name },
    spec: {
      variant: "film",
      referenceImage: { url },
      storyline: [{ prompt: "A lighthouse on a rock at dawn, waves breaking below.", clips: 1 }],
      render: { backend: "animatic", resolution: { width: size, height: size }, fps: 16, framesPerClip: 17 },
      storage: { workspace: { size: "1Gi" } },
      retry: { limit: 0 },
    },
  };
}

interface SegmentPod {
  spec: { containers: { env?: { name: string; value?: string }[] }[] };
  status: { containerStatuses?: { state: { terminated?: { exitCode: number; message?: string } } }[] };
}

const segmentPod = (film: string): SegmentPod => {
  const pods = JSON.parse(
    kubectl(
      "get",
      "pods",
      "-n",
      filmsNamespace,
      "-l",
      `longvideo.dev/film=${film},longvideo.dev/kind=segment`,
      "-o",
      "json",
    ),
  ) as { items: SegmentPod[] };
  const [pod] = pods.items;
  if (!pod || pods.items.length !== 1) throw new Error(`film ${film} has ${String(pods.items.length)} segment pods`);
  return pod;
};

/** The notes of the events the operator recorded about a film. */
const filmEvents = (film: string): string[] =>
  (
    JSON.parse(kubectl("get", "events.events.k8s.io", "-n", filmsNamespace, "-o", "json")) as {
      items: { regarding?: { kind?: string; name?: string }; note?: string }[];
    }
  ).items
    .filter((e) => e.regarding?.kind === "LongVideo" && e.regarding.name === film)
    .map((e) => e.note ?? "");

let server: ImageServer;

/**
 * Waits until the release runs one operator pod and no other is terminating: an operator of the previous values
 * that still held the Lease would give a film's pods the previous policy.
 */
async function onlyTheUpgradedOperator(): Promise<void> {
  for (let i = 0; i < 120; i++) {
    const pods = JSON.parse(
      kubectl("get", "pods", "-n", release.namespace, "-l", "app.kubernetes.io/name=longvideo-operator", "-o", "json"),
    ) as { items: { metadata: { deletionTimestamp?: string } }[] };
    if (pods.items.length === 1 && !pods.items[0]?.metadata.deletionTimestamp) return;
    await sleep(1000);
  }
  throw new Error("the previous operator pod is still there after 120 s");
}

/** The film's status, events and pod say nothing of the server's address or port. */
function expectDiscreet(film: FilmView, name: string): void {
  const pod = segmentPod(name);
  const said = [
    JSON.stringify(film.status),
    ...filmEvents(name),
    pod.status.containerStatuses?.[0]?.state.terminated?.message ?? "",
    kubectl("logs", "-n", filmsNamespace, "-l", `longvideo.dev/film=${name},longvideo.dev/kind=segment`),
  ].join("\n");
  expect(said).not.toMatch(new RegExp(`\\b${String(server.port)}\\b`));
  expect(said).not.toContain(bridge);
  expect(said).not.toMatch(/errno|connection refused/i);
}

/** Applies the film, waits for it to fail, and checks it failed on bad input with `error`, said discreetly. */
async function expectRefused(name: string, url: string, error: string): Promise<void> {
  applyFilmObject(filmsNamespace, urlFilm(name, url), tenant);
  const film = await watchFilm(
    filmsNamespace,
    name,
    (f) => {
      say(`${name}: ${f.status?.phase ?? "Pending"} ${f.status?.progress ?? ""}`);
    },
    240_000,
  );
  expect(film.status?.phase, JSON.stringify(film.status?.conditions)).toBe("Failed");
  const failed = film.status?.conditions?.find((c) => c.type === "Failed");
  expect(failed).toMatchObject({ status: "True", reason: "BadInput" });
  expect(failed?.message).toBe(`segment 0 failed on input a retry cannot fix: ${error} (exit code 2)`);
  expect(film.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("False");
  expect(filmEvents(name).some((note) => note.includes(error))).toBe(true);
  const terminated = segmentPod(name).status.containerStatuses?.[0]?.state.terminated;
  expect(terminated?.exitCode).toBe(2);
  expect(JSON.parse(terminated?.message ?? "{}")).toMatchObject({ reason: "bad-input", error });
  expectDiscreet(film, name);
}

const podFetchPolicy = (name: string): unknown => {
  const env = segmentPod(name).spec.containers[0]?.env ?? [];
  return JSON.parse(env.find((e) => e.name === "LV_FETCH_POLICY")?.value ?? "null");
};

beforeAll(async () => {
  const others = otherOperators(release.namespace);
  if (others.length > 0)
    throw new Error(`another LongVideo operator is installed and would act on these films too: ${others.join(", ")}`);
  loadImages();
  const dir = mkdtempSync(path.join(os.tmpdir(), "lv-fetch-"));
  try {
    const file = path.join(dir, "ref.png");
    const source = `testsrc2=size=${String(size)}x${String(size)}`;
    run("ffmpeg", ["-loglevel", "error", "-f", "lavfi", "-i", source, "-frames:v", "1", "-y", file]);
    server = new ImageServer(readFileSync(file));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  await server.listen();
  say(`serving the image at ${server.url("/ref.png")}`);
}, 900_000);

afterAll(async () => {
  // Films first, while the operator still runs to release their finalizers; then the operator and the server.
  kubectl("delete", "namespace", filmsNamespace, "--ignore-not-found", "--timeout=120s");
  run("helm", ["uninstall", release.name, "-n", release.namespace, "--wait", "--ignore-not-found"]);
  kubectl("delete", "namespace", release.namespace, "--ignore-not-found", "--wait=false");
  await server.close();
}, 300_000);

describe("reference image URLs under the operator's fetch policy, on the real node", () => {
  it("with the chart's defaults, refuses the private bridge address before any request, saying only its class", async () => {
    installOperator(release, ["--set", "replicaCount=1"]);
    expect(otherOperators(release.namespace)).toEqual([]);
    ensureRestrictedNamespace(filmsNamespace);
    grantTenant();
    await expectRefused(
      "private-url",
      server.url("/ref.png"),
      "the reference image URL's host resolves to a refused address range (private)",
    );
    expect(server.requests).toEqual([]);
    expect(podFetchPolicy("private-url")).toEqual({
      allowCidrs: [],
      refuseCidrs: [],
      maxBytes: 64 * 1024 * 1024,
      timeoutSeconds: 30,
    });
  });

  it("with the bridge address allowed, refuses a redirect to the metadata address at the redirect", async () => {
    installOperator(release, [
      "--set",
      "replicaCount=1",
      "--set-json",
      `fetch.allowCidrs=["${bridge}/32"]`,
      "--set-json",
      `fetch.clusterCidrs=["${podCidr}"]`,
    ]);
    await onlyTheUpgradedOperator();
    await expectRefused(
      "metadata-redirect",
      server.url("/to-metadata"),
      "the reference image URL redirects to a refused address range (link-local)",
    );
    expect(server.requested("/to-metadata")).toBe(1);
    expect(podFetchPolicy("metadata-redirect")).toEqual({
      allowCidrs: [`${bridge}/32`],
      refuseCidrs: [podCidr],
      maxBytes: 64 * 1024 * 1024,
      timeoutSeconds: 30,
    });
  });

  it("refuses a redirect to another address of the cluster's pod range", async () => {
    await expectRefused(
      "pod-redirect",
      server.url("/to-pod"),
      "the reference image URL redirects to a refused address range (cluster network)",
    );
    expect(server.requested("/to-pod")).toBe(1);
  });

  it("renders a film whose image the allowed address serves, asked for by the URL's host", async () => {
    const name = "allowed-url";
    applyFilmObject(filmsNamespace, urlFilm(name, server.url("/ref.png")), tenant);
    const film = await watchFilm(
      filmsNamespace,
      name,
      (f) => {
        say(`${name}: ${f.status?.phase ?? "Pending"} ${f.status?.progress ?? ""}`);
      },
      300_000,
    );
    expect(film.status?.phase, JSON.stringify(film.status?.conditions)).toBe("Succeeded");
    expect(server.requests.filter((r) => r.path === "/ref.png")).toEqual([
      { path: "/ref.png", host: `${bridge}:${String(server.port)}`, userAgent: "longvideo-runtime" },
    ]);
  });
});
