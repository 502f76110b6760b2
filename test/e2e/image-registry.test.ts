/**
 * Images from a registry, end to end: `make images-push` builds the operator and CPU runtime images (no Docker) and
 * pushes them to the local registry (distribution's, built from Go modules, plain HTTP on 127.0.0.1); each carries
 * its OCI labels and a non-root user; the chart installed with `values-registry-example.yaml` pointing at that
 * registry runs the operator, and an animatic film renders, with every image the real node's containerd pulled
 * from the registry itself (its hosts.toml, written by cluster-up.sh): the pods' imageIDs are the registry's digests,
 * the kubelet says it pulled them, and containerd lists them under the registry's names. Nothing comes from a
 * `localhost/` import.
 *
 * The registry-named images are removed from the node first, so the kubelet must pull them. (Layers the node holds
 * from a `localhost/` import of the same definition are content-addressed and not fetched twice; the image itself,
 * its manifest and its config with the push's revision label, can only come from the registry.) The operator watches
 * every namespace, so this file refuses to start while another release's operator exists, and uninstalls its own.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRegistry } from "../support/registry-process.ts";
import type { RegistryProcess } from "../support/registry-process.ts";
import {
  applyFilmObject,
  chartDir,
  createReferenceImage,
  ensureRestrictedNamespace,
  kubectl,
  otherOperators,
  repoRoot,
  run,
  watchFilm,
} from "./film-demo.ts";

const release = { name: "lv-registry", namespace: "lv-e2e-registry-system" };
const filmsNamespace = "lv-e2e-registry-films";
const containerdSocket = path.join(repoRoot, ".cache/cluster/containerd/containerd.sock");
const version = (JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8")) as { version: string }).version;
const source = "https://github.com/longvideo/longvideo-operator";

const say = (line: string) => {
  process.stdout.write(`[registry e2e ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
};

interface Pushed {
  readonly reference: string;
  readonly digest: string;
  readonly bytes: number;
}

interface PodView {
  metadata: { name: string };
  spec: { containers: { image: string }[] };
  status: { containerStatuses?: { image: string; imageID: string }[] };
}

let registry: RegistryProcess | undefined;
/** host:port of the registry beforeAll started. */
function registryHost(): string {
  if (!registry) throw new Error("the registry did not start");
  return registry.host;
}
let pushed: Map<string, Pushed>;
const figures: string[] = [];

const operatorRef = () => `${registryHost()}/longvideo/operator:${version}`;
const runtimeRef = () => `${registryHost()}/longvideo/runtime-cpu:${version}`;
const ctr = (...args: string[]) => run("ctr", ["--address", containerdSocket, "-n", "k8s.io", ...args]);

/** The digest a reference was pushed with, or a failure naming what was pushed. */
function pushedDigest(reference: string): string {
  const image = pushed.get(reference);
  if (!image) throw new Error(`${reference} was not pushed; pushed: ${[...pushed.keys()].join(", ")}`);
  return image.digest;
}

const pods = (namespace: string): PodView[] =>
  (JSON.parse(kubectl("get", "pods", "-n", namespace, "-o", "json")) as { items: PodView[] }).items;

/** The kubelet's `Pulled` events of a namespace: "Successfully pulled image ... in 1.2s ..." or "already present". */
const pulledEvents = (namespace: string): string[] =>
  kubectl(
    "get",
    "events",
    "-n",
    namespace,
    "--field-selector",
    "reason=Pulled",
    "-o",
    "jsonpath={range .items[*]}{.message}{'\\n'}{end}",
  )
    .split("\n")
    .filter(Boolean);

/** A three-segment animatic film on the real node, as small as the API allows. */
const smallFilm = {
  apiVersion: "longvideo.dev/v1alpha1",
  kind: "LongVideo",
  metadata: { name: "pulled" },
  spec: {
    variant: "film",
    referenceImage: { configMap: { name: "still", key: "image.png" } },
    storyline: [
      { prompt: "Dawn over a small fishing harbour.", clips: 2 },
      { prompt: "A trawler leaves past the lighthouse.", clips: 1 },
    ],
    render: { backend: "animatic", resolution: { width: 320, height: 256 }, fps: 8, framesPerClip: 17 },
    gpu: { nodeSelector: { "longvideo.dev/pool": "local" }, tolerations: [] },
    storage: { workspace: { size: "1Gi" } },
    retry: { limit: 0 },
  },
};

beforeAll(async () => {
  const others = otherOperators(release.namespace);
  if (others.length > 0)
    throw new Error(`another LongVideo operator is installed and would act on these films too: ${others.join(", ")}`);
  registry = await startRegistry({ empty: true });
  say(`registry on ${registry.host}, storage ${registry.storage}`);
  // What an earlier run pulled would be "already present": the kubelet must pull this run's images.
  const names = ctr("images", "ls", "-q").split("\n");
  const stale = names.filter((name) => name.startsWith(`${registryHost()}/longvideo/`));
  if (stale.length > 0) ctr("images", "rm", "--sync", ...stale);
  kubectl(
    "apply",
    "--server-side",
    "--force-conflicts",
    "-f",
    path.join(repoRoot, "crds/longvideo.dev_longvideos.yaml"),
  );
}, 120_000);

afterAll(async () => {
  kubectl("delete", "namespace", filmsNamespace, "--ignore-not-found", "--timeout=120s");
  run("helm", ["uninstall", release.name, "-n", release.namespace, "--wait", "--ignore-not-found"]);
  kubectl("delete", "namespace", release.namespace, "--ignore-not-found", "--wait=false");
  await registry?.stop();
  for (const line of figures) say(line);
}, 300_000);

describe("images pushed to a registry and pulled from it by the real node", () => {
  it("`make images-push` builds and pushes the operator and CPU runtime images, digests preserved", () => {
    const started = Date.now();
    const output = execFileSync("make", ["-s", "images-push", `REGISTRY=${registryHost()}`, "GPU=0"], {
      cwd: repoRoot,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
      maxBuffer: 16 * 1024 * 1024,
    });
    const seconds = Math.round((Date.now() - started) / 1000);
    pushed = new Map(
      output
        .trim()
        .split("\n")
        .map((line) => line.split(" "))
        .map(([reference = "", digest = "", bytes = ""]) => [reference, { reference, digest, bytes: Number(bytes) }]),
    );
    expect([...pushed.keys()].sort()).toEqual([operatorRef(), runtimeRef()].sort());
    for (const image of pushed.values()) {
      expect(image.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(image.bytes).toBeGreaterThan(1_000_000);
      figures.push(`pushed ${image.reference}: ${String(Math.round(image.bytes / 1e6))} MB compressed`);
      // The registry serves the manifest under the tag with the digest the archive had.
      const [repository = "", tag = ""] = image.reference.slice(registryHost().length + 1).split(":");
      const head = execFileSync(
        "curl",
        [
          "-fsSI",
          "-H",
          "Accept: application/vnd.oci.image.manifest.v1+json",
          `http://${registryHost()}/v2/${repository}/manifests/${tag}`,
        ],
        { encoding: "utf8" },
      );
      expect(head.toLowerCase()).toContain(`docker-content-digest: ${image.digest}`);
    }
    figures.push(`make images-push (build and push, GPU=0) took ${String(seconds)}s`);
  });

  it("labels each pushed image with its source, revision, version and title, and runs it as a non-root user", () => {
    const head = execFileSync("git", ["rev-parse", "HEAD"], { cwd: repoRoot, encoding: "utf8" }).trim();
    const titles = new Map([
      [operatorRef(), "longvideo-operator"],
      [runtimeRef(), "longvideo-runtime-cpu"],
    ]);
    for (const [reference, title] of titles) {
      const config = JSON.parse(
        run("skopeo", ["inspect", "--config", "--tls-verify=false", `docker://${reference}`]),
      ) as { config: { User?: string; Labels?: Record<string, string> } };
      const labels = config.config.Labels ?? {};
      expect(labels, reference).toMatchObject({
        "org.opencontainers.image.source": source,
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.title": title,
      });
      // The commit the image was built from; "-dirty" when the tree had uncommitted changes to tracked files.
      expect(labels["org.opencontainers.image.revision"], reference).toMatch(new RegExp(`^${head}(-dirty)?$`));
      const user = config.config.User ?? "";
      const [uid = "", gid = ""] = user.split(":");
      expect(uid, `${reference} user ${user}`).toMatch(/^[1-9][0-9]*$/);
      expect(gid, `${reference} group ${user}`).toMatch(/^[1-9][0-9]*$/);
    }
  });

  it("installs the chart from the registry (values-registry-example.yaml): the operator's image pulled by the node", () => {
    ensureRestrictedNamespace(release.namespace);
    run("helm", [
      "upgrade",
      "--install",
      release.name,
      chartDir,
      "--namespace",
      release.namespace,
      "-f",
      path.join(chartDir, "values-registry-example.yaml"),
      "--set",
      `image.repository=${registryHost()}/longvideo/operator`,
      "--set",
      `runtime.image=${runtimeRef()}`,
      // The local cluster's one real node stands in for a GPU pool, and the CPU image renders animatics.
      "--set",
      "runtime.backend=animatic",
      "--set",
      "gpuPool.nodeSelector.longvideo\\.dev/pool=local",
      "--set-json",
      "gpuPool.tolerations=[]",
      "--set",
      "replicaCount=1",
      "--wait",
      "--timeout",
      "300s",
    ]);
    const operatorPods = pods(release.namespace);
    expect(operatorPods).toHaveLength(1);
    for (const pod of operatorPods) {
      expect(pod.spec.containers[0]?.image).toBe(operatorRef());
      expect(pod.status.containerStatuses?.[0]?.imageID).toBe(
        `${registryHost()}/longvideo/operator@${pushedDigest(operatorRef())}`,
      );
    }
    const pulled = pulledEvents(release.namespace).filter((m) => m.includes(`"${operatorRef()}"`));
    expect(
      pulled.some((m) => m.startsWith("Successfully pulled image")),
      pulled.join("\n"),
    ).toBe(true);
    figures.push(...pulled.map((m) => `operator pod: ${m}`));
  });

  it("renders an animatic film whose pods run the CPU runtime image the node pulled from the registry", async () => {
    ensureRestrictedNamespace(filmsNamespace);
    createReferenceImage(filmsNamespace, "still", "image.png", "320x256");
    const name = applyFilmObject(filmsNamespace, smallFilm);
    const film = await watchFilm(filmsNamespace, name, () => undefined, 420_000);
    expect(film.status?.phase, JSON.stringify(film.status?.conditions)).toBe("Succeeded");
    expect(film.status?.segments?.map((s) => s.node)).toEqual(["lv-local", "lv-local", "lv-local"]);

    const filmPods = pods(filmsNamespace);
    // Three segments and the concatenation at least; every one in the registry's image, by its pushed digest.
    expect(filmPods.length).toBeGreaterThanOrEqual(4);
    for (const pod of filmPods) {
      expect(pod.spec.containers[0]?.image, pod.metadata.name).toBe(runtimeRef());
      expect(pod.status.containerStatuses?.[0]?.imageID, pod.metadata.name).toBe(
        `${registryHost()}/longvideo/runtime-cpu@${pushedDigest(runtimeRef())}`,
      );
    }
    const pulled = pulledEvents(filmsNamespace).filter((m) => m.includes(`"${runtimeRef()}"`));
    expect(
      pulled.some((m) => m.startsWith("Successfully pulled image")),
      pulled.join("\n"),
    ).toBe(true);
    figures.push(...pulled.filter((m) => m.startsWith("Successfully")).map((m) => `runtime pod: ${m}`));
  });

  it("leaves the images in the node's containerd under the registry's names, none from a localhost/ import", () => {
    // How the node reaches the registry: plain HTTP, pull and resolve only (cluster-up.sh's hosts.toml).
    const hosts = readFileSync(
      path.join(repoRoot, ".cache/cluster/containerd/certs.d", registryHost(), "hosts.toml"),
      "utf8",
    );
    expect(hosts).toContain(`server = "http://${registryHost()}"`);
    expect(hosts).toContain(`capabilities = ["pull", "resolve"]`);
    const listed = ctr("images", "ls")
      .split("\n")
      .slice(1)
      .map((line) => line.split(/\s+/))
      .map(([name = "", , digest = ""]) => ({ name, digest }));
    for (const reference of [operatorRef(), runtimeRef()]) {
      const digest = pushedDigest(reference);
      expect(listed.find((image) => image.name === reference)?.digest, reference).toBe(digest);
      // The registry's config carries the revision label, so no imported image can have the same digest.
      expect(listed.filter((image) => image.digest === digest && image.name.startsWith("localhost/"))).toEqual([]);
    }
  });
});
