/**
 * The LongVideo API against the real API server: the committed CRD installs, every example is accepted, invalid
 * manifests are rejected with a message naming the field, defaults are applied as the schema says, and the printer
 * columns reach `kubectl get lv`. Everything is created in a namespace of its own, deleted at the end; the CRD is
 * cluster-wide and shared with the operator's tests, so it is installed (server-side apply) and left in place.
 */
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  ApiException,
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  HttpMethod,
  PatchStrategy,
  RequestContext,
} from "@kubernetes/client-node";
import { fetch } from "undici";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { longVideoResource } from "../../src/api/long-video.ts";
import { longVideoSpecSchema } from "../../src/api/long-video-spec.ts";
import { maxSegments } from "../../src/api/long-video-status.ts";
import { compactedStatus, detailedSegments, expandedStatus } from "../../src/reconcile/status-compaction.ts";
import { fieldErrors } from "../../src/api/field-errors.ts";
import { run } from "../support/kubectl.ts";
import { testKubeConfig } from "../support/test-kube-config.ts";

const root = path.resolve(import.meta.dirname, "../..");
const kc = testKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const extensions = kc.makeApiClient(ApiextensionsV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const namespace = `lv-it-api-${randomBytes(3).toString("hex")}`;
const { group, version, plural, kind } = longVideoResource;
const apiVersion = `${group}/${version}`;
const crdName = `${plural}.${group}`;

/** A request the typed clients do not offer (a Table, a merge patch of status), failing the test on non-2xx. */
async function request<T = unknown>(
  method: "GET" | "PATCH",
  path: string,
  options: { accept?: string; body?: unknown; contentType?: string } = {},
): Promise<T> {
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error("no cluster in the kubeconfig");
  const context = new RequestContext(`${server}${path}`, method === "GET" ? HttpMethod.GET : HttpMethod.PATCH);
  await kc.applySecurityAuthentication(context);
  const dispatcher = context.getDispatcher();
  const response = await fetch(context.getUrl(), {
    method,
    headers: {
      ...context.getHeaders(),
      Accept: options.accept ?? "application/json",
      ...(options.contentType ? { "Content-Type": options.contentType } : {}),
    },
    ...(dispatcher ? { dispatcher } : {}),
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${String(response.status)} ${text}`);
  return JSON.parse(text) as T;
}

/** A failed request's metav1.Status: the message and the per-field causes. */
interface RejectionStatus {
  readonly code: number;
  readonly reason?: string;
  readonly message: string;
  readonly causes: readonly { readonly field?: string; readonly message?: string; readonly reason?: string }[];
}

function rejection(error: unknown): RejectionStatus {
  if (!(error instanceof ApiException)) throw error instanceof Error ? error : new Error(String(error));
  const body: unknown = typeof error.body === "string" ? JSON.parse(error.body) : error.body;
  const status = body as {
    reason?: string;
    message?: string;
    details?: { causes?: { field?: string; message?: string; reason?: string }[] };
  };
  return {
    code: error.code,
    ...(status.reason === undefined ? {} : { reason: status.reason }),
    message: status.message ?? "",
    causes: status.details?.causes ?? [],
  };
}

/** Creates a LongVideo (a server-side dry run unless `persist`); the rejection when the server refuses it. */
async function create(
  name: string,
  spec: unknown,
  persist = false,
): Promise<{ ok: true; object: Record<string, unknown> } | { ok: false; status: RejectionStatus }> {
  try {
    const object = (await custom.createNamespacedCustomObject({
      group,
      version,
      namespace,
      plural,
      body: { apiVersion, kind, metadata: { name }, spec },
      fieldValidation: "Strict",
      ...(persist ? {} : { dryRun: "All" }),
    })) as Record<string, unknown>;
    return { ok: true, object };
  } catch (error) {
    return { ok: false, status: rejection(error) };
  }
}

const minimal = {
  referenceImage: { url: "https://example.com/still.png" },
  storyline: [{ prompt: "a lighthouse at dawn", clips: 2 }],
  render: { backend: "animatic" },
};

/** `minimal` with `patch` merged in, one level deep per key. */
function with_(patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...minimal };
  for (const [key, value] of Object.entries(patch)) {
    const base = out[key];
    out[key] =
      typeof value === "object" && value !== null && !Array.isArray(value) && typeof base === "object" && base
        ? { ...base, ...value }
        : value;
  }
  return out;
}

beforeAll(async () => {
  // Applied as raw JSON: client-node's typed serializer knows `xKubernetesValidations`, not the wire name
  // `x-kubernetes-validations`, and would silently drop every CEL rule of a CRD read from YAML.
  const crd: unknown = parse(readFileSync(path.join(root, "crds/longvideo.dev_longvideos.yaml"), "utf8"));
  await request(
    "PATCH",
    `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crdName}?fieldManager=longvideo-api-tests&force=true`,
    { body: crd, contentType: PatchStrategy.ServerSideApply },
  );
  const deadline = Date.now() + 60_000;
  for (;;) {
    const current = await extensions.readCustomResourceDefinition({ name: crdName });
    const established = current.status?.conditions?.some((c) => c.type === "Established" && c.status === "True");
    if (established) break;
    if (Date.now() > deadline) throw new Error(`CRD ${crdName} not established: ${JSON.stringify(current.status)}`);
    await sleep(200);
  }
  await core.createNamespace({ body: { metadata: { name: namespace, labels: { "longvideo.dev/test": "api" } } } });
  // An updated schema reaches the validating handler shortly after the update: wait until it is the one in force.
  for (;;) {
    const probe = await create("probe", minimal);
    const ruled = await create("probe", with_({ render: { framesPerClip: 80 } }));
    if (probe.ok && !ruled.ok) break;
    if (Date.now() > deadline) {
      throw new Error(
        `the applied schema is not in force: ${probe.ok ? "an invalid probe passed" : probe.status.message}`,
      );
    }
    await sleep(200);
  }
});

afterAll(async () => {
  await core.deleteNamespace({ name: namespace }).catch(() => undefined);
});

describe("the LongVideo CRD on the API server", () => {
  it("is served with the names the design fixes", async () => {
    const crd = await extensions.readCustomResourceDefinition({ name: crdName });
    expect(crd.spec.scope).toBe("Namespaced");
    expect(crd.spec.names).toMatchObject({ kind: "LongVideo", plural: "longvideos", shortNames: ["lv"] });
    expect(crd.spec.names.categories ?? []).toEqual([]);
    expect(crd.spec.versions.map((v) => ({ name: v.name, status: v.subresources?.status !== undefined }))).toEqual([
      { name: "v1alpha1", status: true },
    ]);
  });

  const examples = readdirSync(path.join(root, "manifests/examples")).filter((f) => f.endsWith(".yaml"));
  it.each(examples)("accepts manifests/examples/%s", async (file) => {
    const text = readFileSync(path.join(root, "manifests/examples", file), "utf8");
    const documents = parseAllDocuments(text);
    for (const document of Array.isArray(documents) ? documents : [documents]) {
      const manifest = document.toJS() as { kind?: string; metadata: { name: string }; spec: unknown } | null;
      if (manifest?.kind !== kind) continue;
      const result = await create(manifest.metadata.name, manifest.spec, true);
      expect(result.ok ? "" : result.status.message).toBe("");
    }
  });

  it("accepts the model cache fill Job of manifests/ under the restricted Pod Security level", async () => {
    const restricted = `${namespace}-restricted`;
    await core.createNamespace({
      body: { metadata: { name: restricted, labels: { "pod-security.kubernetes.io/enforce": "restricted" } } },
    });
    try {
      const others = parseAllDocuments(readFileSync(path.join(root, "manifests/model-cache-fill.yaml"), "utf8")).map(
        (document) => document.toJS() as { kind?: string } | null,
      );
      expect(others.map((o) => o?.kind).sort()).toEqual(["Job", "PersistentVolumeClaim"]);
      const list = JSON.stringify({ apiVersion: "v1", kind: "List", items: others });
      // A server-side dry run goes through admission (Pod Security included) without creating anything.
      const created = run("kubectl", ["create", "--dry-run=server", "-n", restricted, "-f", "-", "-o", "name"], list);
      expect(created.trim().split("\n").sort()).toEqual([
        "job.batch/svi-models-fill-pro",
        "persistentvolumeclaim/svi-models",
      ]);
      // Pod Security only warns about a Job; it enforces on pods, so the Job's pod is tried as one.
      const job = others.find((o) => o?.kind === "Job") as { spec: { template: { spec: unknown } } };
      const pod = { apiVersion: "v1", kind: "Pod", metadata: { name: "fill" }, spec: job.spec.template.spec };
      const args = ["create", "--dry-run=server", "-n", restricted, "-f", "-", "-o", "name"];
      expect(run("kubectl", args, JSON.stringify(pod)).trim()).toBe("pod/fill");
    } finally {
      await core.deleteNamespace({ name: restricted }).catch(() => undefined);
    }
  });

  it("applies the defaults the schema declares, exactly as zod does", async () => {
    const result = await create("defaults", minimal, true);
    if (!result.ok) throw new Error(result.status.message);
    expect(result.object.spec).toEqual(longVideoSpecSchema.parse(minimal));
    expect(result.object.spec).toMatchObject({
      variant: "film",
      // fps and the frame size default per variant (16 fps at 832x480, talk and dance 25 fps at 640x368): the plan
      // resolves them, the API server stores none.
      render: { framesPerClip: 81, steps: 50, seed: 42, resolution: {} },
      gpu: { count: 1, resourceName: "nvidia.com/gpu" },
      storage: { workspace: { size: "20Gi", accessMode: "ReadWriteOnce", whenDeleted: "Delete" } },
      retry: { limit: 3, backoff: { initialSeconds: 10, maxSeconds: 600 } },
      output: { path: "film.mp4" },
      suspend: false,
    });
  });

  it("prints variant, phase, progress, the relative ETA, the Ready reason and age in `kubectl get lv`, and the absolute ETA and message wide", async () => {
    const name = "columns";
    const result = await create(name, with_({ variant: "pro" }), true);
    if (!result.ok) throw new Error(result.status.message);
    const eta = new Date(Date.now() + 3_600_000).toISOString();
    const path = `/apis/${group}/${version}/namespaces/${namespace}/${plural}`;
    await request("PATCH", `${path}/${name}/status`, {
      body: {
        status: {
          phase: "Rendering",
          progress: "3/8",
          eta,
          remaining: "1h",
          conditions: [
            {
              type: "Ready",
              status: "False",
              reason: "Unschedulable",
              message: "segment 3 waits for a node: 0/9 nodes are available",
              lastTransitionTime: new Date().toISOString(),
            },
          ],
        },
      },
      contentType: PatchStrategy.MergePatch,
    });
    // What `kubectl get lv` asks for; includeObject puts each row's object beside its cells.
    const table = await request<{
      kind: string;
      columnDefinitions: { name: string; type: string; priority: number }[];
      rows: {
        cells: unknown[];
        object: {
          status?: {
            phase?: string;
            progress?: string;
            eta?: string;
            remaining?: string;
            conditions?: { type: string; reason: string; message: string }[];
          };
        };
      }[];
    }>("GET", `${path}?fieldSelector=metadata.name%3D${name}&includeObject=Object`, {
      accept: "application/json;as=Table;g=meta.k8s.io;v=v1",
    });
    expect(table.kind).toBe("Table");
    expect(table.columnDefinitions.map((c) => c.name)).toEqual([
      "Name",
      "Variant",
      "Phase",
      "Progress",
      "ETA",
      "Reason",
      "Age",
      "Expected",
      "Message",
    ]);
    // The absolute ETA and the message, which is long: `-o wide` only.
    expect(table.columnDefinitions.map((c) => c.priority)).toEqual([0, 0, 0, 0, 0, 0, 0, 1, 1]);
    const [row] = table.rows;
    if (!row) throw new Error("no row for the LongVideo");
    // The row's own object: if an operator is reconciling this namespace too, cells and status still agree.
    const status = row.object.status ?? {};
    const ready = status.conditions?.find((c) => c.type === "Ready");
    expect(row.cells.slice(0, 6)).toEqual([
      name,
      "pro",
      status.phase,
      status.progress,
      status.remaining,
      ready?.reason,
    ]);
    expect(row.cells[6]).toMatch(/^\d+s$/);
    expect(row.cells[7]).toBe(status.eta);
    expect(row.cells[8]).toBe(ready?.message);
  });
});

describe("a film of the most segments the spec allows (64 scenes of 64 clips)", () => {
  it("keeps its status inside etcd's object limit, compacted, where whole records are refused", async () => {
    const name = "longest";
    const storyline = Array.from({ length: 64 }, (_, i) => ({ prompt: `scene ${String(i)}`, clips: 64 }));
    const result = await create(name, with_({ storyline }), true);
    if (!result.ok) throw new Error(result.status.message);
    const digest = (n: number) => `sha256:${createHash("sha256").update(String(n)).digest("hex")}`;
    const segments = Array.from({ length: maxSegments }, (_, index) => ({
      index,
      attempt: 0,
      failures: 0,
      state: index === maxSegments - 1 ? ("Running" as const) : ("Succeeded" as const),
      hash: createHash("sha256")
        .update(`plan ${String(index)}`)
        .digest("hex"),
      node: `kwok-h100-${String(index % 16)}`,
      startTime: "2026-11-25T12:00:00Z",
      inputDigest: index === 0 ? "" : digest(index - 1),
      ...(index === maxSegments - 1
        ? {}
        : { finishTime: "2026-11-25T12:01:00Z", outputDigest: digest(index), frames: 81 }),
    }));
    const whole = {
      phase: "Rendering" as const,
      progress: `${String(maxSegments - 1)}/${String(maxSegments)}`,
      segments,
    };
    const path = `/apis/${group}/${version}/namespaces/${namespace}/${plural}/${name}/status`;
    const patch = (status: unknown) =>
      request("PATCH", path, { body: { status }, contentType: PatchStrategy.MergePatch });
    await expect(patch(whole)).rejects.toThrow(/too large|exceeded|limit/i);
    const compact = compactedStatus(whole);
    await patch(compact);
    const stored = await request<{ status: typeof compact }>("GET", path);
    expect(stored.status.renderedSegments).toHaveLength(maxSegments - 1 - detailedSegments);
    // Read back as the reconciler reads it, every segment's chain is there.
    const read = expandedStatus(stored.status);
    expect(read.segments).toHaveLength(maxSegments);
    expect(read.segments?.[maxSegments - 2]?.outputDigest).toBe(digest(maxSegments - 2));
    expect(read.segments?.[1000]?.inputDigest).toBe(digest(999));
    console.log(
      `status of ${String(maxSegments)} segments: ${String(JSON.stringify(whole).length)} bytes whole, ${String(JSON.stringify(compact).length)} compacted`,
    );
  });
});

const voice = { url: "https://a.example/voice.wav" };
const skeleton = { pvc: { claimName: "poses", path: "dance.mp4" } };

/**
 * Each manifest breaks one rule; the API server must refuse it with a cause at `field` whose message matches
 * `message`, and zod must refuse it at the same field.
 */
const invalid: { name: string; spec: unknown; field: string; message: RegExp }[] = [
  {
    name: "no image source",
    spec: { ...minimal, referenceImage: {} },
    field: "spec.referenceImage",
    message: /exactly one image source/,
  },
  {
    name: "two image sources",
    spec: { ...minimal, referenceImage: { url: "https://a.example/b.png", pvc: { claimName: "c", path: "d.png" } } },
    field: "spec.referenceImage",
    message: /exactly one image source/,
  },
  {
    name: "a pvc image without a path",
    spec: { ...minimal, referenceImage: { pvc: { claimName: "c" } } },
    field: "spec.referenceImage.pvc.path",
    message: /Required value/,
  },
  {
    name: "an ftp image url",
    spec: { ...minimal, referenceImage: { url: "ftp://a.example/b.png" } },
    field: "spec.referenceImage.url",
    message: /should match/,
  },
  {
    name: "no storyline",
    spec: { referenceImage: minimal.referenceImage, render: minimal.render },
    field: "spec.storyline",
    message: /Required value/,
  },
  { name: "an empty storyline", spec: with_({ storyline: [] }), field: "spec.storyline", message: /at least 1 items/ },
  {
    name: "65 scenes",
    spec: with_({ storyline: Array.from({ length: 65 }, () => ({ prompt: "x", clips: 1 })) }),
    field: "spec.storyline",
    message: /Too many: 65: must have at most 64 items/,
  },
  {
    name: "both clips and seconds",
    spec: with_({ storyline: [{ prompt: "x", clips: 1, seconds: 3 }] }),
    field: "spec.storyline[0]",
    message: /exactly one of clips or seconds/,
  },
  {
    name: "neither clips nor seconds, outside talk",
    spec: with_({ storyline: [{ prompt: "x" }] }),
    field: "spec.storyline",
    message: /set clips or seconds for each scene: only a talk film may leave scene lengths/,
  },
  {
    name: "zero seconds",
    spec: with_({ storyline: [{ prompt: "x", seconds: 0 }] }),
    field: "spec.storyline[0].seconds",
    message: /should be greater than 0/,
  },
  {
    name: "a 10-minute scene",
    spec: with_({ storyline: [{ prompt: "x", seconds: 600 }] }),
    field: "spec.storyline[0].seconds",
    message: /less than or equal to 300/,
  },
  {
    name: "65 clips",
    spec: with_({ storyline: [{ prompt: "x", clips: 65 }] }),
    field: "spec.storyline[0].clips",
    message: /less than or equal to 64/,
  },
  {
    name: "a blank prompt",
    spec: with_({ storyline: [{ prompt: "   ", clips: 1 }] }),
    field: "spec.storyline[0].prompt",
    message: /should match/,
  },
  {
    name: "an overlong prompt",
    spec: with_({ storyline: [{ prompt: "x".repeat(2001), clips: 1 }] }),
    field: "spec.storyline[0].prompt",
    message: /Too long/,
  },
  {
    name: "an unknown variant",
    spec: with_({ variant: "sing" }),
    field: "spec.variant",
    message: /Unsupported value: "sing"/,
  },
  {
    name: "talk without audio",
    spec: with_({ variant: "talk" }),
    field: "spec.audio",
    message: /Required value: talk films speak or sing an audio track/,
  },
  {
    name: "talk at 832 wide",
    spec: with_({ variant: "talk", audio: voice, render: { resolution: { width: 832, height: 480 } } }),
    field: "spec.render.resolution.width",
    message: /talk and dance render at most 640 pixels wide/,
  },
  {
    name: "dance at 656 wide",
    spec: with_({ variant: "dance", pose: skeleton, render: { resolution: { width: 656 } } }),
    field: "spec.render.resolution.width",
    message: /talk and dance render at most 640 pixels wide/,
  },
  {
    name: "talk at 24 fps",
    spec: with_({ variant: "talk", audio: voice, render: { fps: 24 } }),
    field: "spec.render.fps",
    message: /talk renders at 25 fps/,
  },
  {
    name: "dance without a pose",
    spec: with_({ variant: "dance" }),
    field: "spec.pose",
    message: /Required value: dance films follow a skeleton video/,
  },
  {
    name: "a pose on a film",
    spec: with_({ pose: skeleton }),
    field: "spec.pose",
    message: /Forbidden: pose is read by the dance variant only/,
  },
  {
    name: "audio on a shot",
    spec: with_({ variant: "shot", audio: voice }),
    field: "spec.audio",
    message: /Forbidden: audio is read by talk/,
  },
  {
    name: "audio from two places",
    spec: with_({ variant: "talk", audio: { ...voice, configMap: { name: "v", key: "v.wav" } } }),
    field: "spec.audio",
    message: /exactly one audio source/,
  },
  {
    name: "a pose with no place",
    spec: with_({ variant: "dance", pose: {} }),
    field: "spec.pose",
    message: /exactly one pose source/,
  },
  {
    name: "a negative audio offset",
    spec: with_({ variant: "talk", audio: { ...voice, offsetSeconds: -0.5 } }),
    field: "spec.audio.offsetSeconds",
    message: /should be greater than or equal to 0/,
  },
  {
    name: "a dance scene without a length",
    spec: with_({ variant: "dance", pose: skeleton, storyline: [{ prompt: "x" }] }),
    field: "spec.storyline",
    message: /only a talk film may leave scene lengths/,
  },
  {
    name: "a tall frame over the pixel budget with the default width",
    spec: with_({ render: { resolution: { height: 1280 } } }),
    field: "spec.render.resolution",
    message: /at most 921600 pixels per frame/,
  },
  {
    name: "a shot of two scenes",
    spec: with_({
      variant: "shot",
      storyline: [
        { prompt: "a", clips: 1 },
        { prompt: "b", clips: 1 },
      ],
    }),
    field: "spec.storyline",
    message: /single scene/,
  },
  {
    name: "80 frames per clip",
    spec: with_({ render: { framesPerClip: 80 } }),
    field: "spec.render.framesPerClip",
    message: /must be 4n\+1/,
  },
  {
    name: "13 frames per clip",
    spec: with_({ render: { framesPerClip: 13 } }),
    field: "spec.render.framesPerClip",
    message: /greater than or equal to 17/,
  },
  {
    name: "125 frames per clip",
    spec: with_({ render: { framesPerClip: 125 } }),
    field: "spec.render.framesPerClip",
    message: /less than or equal to 121/,
  },
  {
    name: "motion frames as long as the clip",
    spec: with_({ render: { framesPerClip: 17, motionFrames: 17 } }),
    field: "spec.render.motionFrames",
    message: /fewer than framesPerClip/,
  },
  {
    name: "a pro overlap as long as the clip",
    spec: with_({ variant: "pro", render: { framesPerClip: 17, motionFrames: 4 } }),
    field: "spec.render.motionFrames",
    message: /4 \* motionFrames \+ 1/,
  },
  {
    name: "61 fps",
    spec: with_({ render: { fps: 61 } }),
    field: "spec.render.fps",
    message: /less than or equal to 60/,
  },
  {
    name: "a fractional fps",
    spec: with_({ render: { fps: 23.976 } }),
    field: "spec.render.fps",
    message: /must be of type integer/,
  },
  {
    name: "a width off the 16 grid",
    spec: with_({ render: { resolution: { width: 500 } } }),
    field: "spec.render.resolution.width",
    message: /multiple of 16/,
  },
  {
    name: "too many pixels",
    spec: with_({ render: { resolution: { width: 1280, height: 1280 } } }),
    field: "spec.render.resolution",
    message: /at most 921600 pixels/,
  },
  {
    name: "no steps",
    spec: with_({ render: { steps: 0 } }),
    field: "spec.render.steps",
    message: /greater than or equal to 1/,
  },
  {
    name: "guidance above 20",
    spec: with_({ render: { guidanceScale: 25 } }),
    field: "spec.render.guidanceScale",
    message: /less than or equal to 20/,
  },
  {
    name: "a zero seed multiplier",
    spec: with_({ render: { seed: 0 } }),
    field: "spec.render.seed",
    message: /greater than or equal to 1/,
  },
  {
    name: "an unknown backend",
    spec: with_({ render: { backend: "sora" } }),
    field: "spec.render.backend",
    message: /Unsupported value: "sora"/,
  },
  {
    name: "nine GPUs",
    spec: with_({ gpu: { count: 9 } }),
    field: "spec.gpu.count",
    message: /less than or equal to 8/,
  },
  {
    name: "a GPU resource name with a space",
    spec: with_({ gpu: { resourceName: "nvidia gpu" } }),
    field: "spec.gpu.resourceName",
    message: /should match/,
  },
  {
    name: "a node selector value with a slash",
    spec: with_({ gpu: { nodeSelector: { "longvideo.dev/pool": "h100/a" } } }),
    field: "spec.gpu.nodeSelector.longvideo.dev/pool",
    message: /should match/,
  },
  {
    name: "a node selector key with a space",
    spec: with_({ gpu: { nodeSelector: { "bad key": "x" } } }),
    field: "spec.gpu.nodeSelector",
    message: /keys must be qualified names/,
  },
  {
    name: "an unknown toleration operator",
    spec: with_({ gpu: { tolerations: [{ key: "k", operator: "Matches" }] } }),
    field: "spec.gpu.tolerations[0].operator",
    message: /Unsupported value: "Matches"/,
  },
  {
    name: "an Exists toleration with a value",
    spec: with_({ gpu: { tolerations: [{ key: "k", operator: "Exists", value: "v" }] } }),
    field: "spec.gpu.tolerations[0].value",
    message: /takes no value/,
  },
  {
    name: "a keyless Equal toleration",
    spec: with_({ gpu: { tolerations: [{ value: "v", effect: "NoSchedule" }] } }),
    field: "spec.gpu.tolerations[0].operator",
    message: /without a key must use operator Exists/,
  },
  {
    name: "a NoSchedule toleration with tolerationSeconds",
    spec: with_({
      gpu: { tolerations: [{ key: "k", operator: "Exists", effect: "NoSchedule", tolerationSeconds: 30 }] },
    }),
    field: "spec.gpu.tolerations[0].tolerationSeconds",
    message: /only to effect NoExecute/,
  },
  {
    name: "a node affinity In without values",
    spec: with_({ gpu: { affinity: nodeAffinityWith({ key: "k", operator: "In" }) } }),
    field:
      "spec.gpu.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values",
    message: /need at least one value/,
  },
  {
    name: "a node affinity Exists with values",
    spec: with_({ gpu: { affinity: nodeAffinityWith({ key: "k", operator: "Exists", values: ["v"] }) } }),
    field:
      "spec.gpu.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values",
    message: /take no values/,
  },
  {
    name: "a node affinity Gt with a word",
    spec: with_({ gpu: { affinity: nodeAffinityWith({ key: "k", operator: "Gt", values: ["many"] }) } }),
    field:
      "spec.gpu.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values",
    message: /exactly one integer value/,
  },
  {
    name: "a pod anti-affinity NotIn without values",
    spec: with_({
      gpu: {
        affinity: {
          podAntiAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: [
              {
                topologyKey: "kubernetes.io/hostname",
                labelSelector: { matchExpressions: [{ key: "app", operator: "NotIn" }] },
              },
            ],
          },
        },
      },
    }),
    field:
      "spec.gpu.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchExpressions[0].values",
    message: /need at least one value/,
  },
  {
    name: "an affinity namespace that is not a name",
    spec: with_({
      gpu: {
        affinity: {
          podAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: [
              { topologyKey: "kubernetes.io/hostname", namespaces: ["Bad_NS"] },
            ],
          },
        },
      },
    }),
    field: "spec.gpu.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].namespaces[0]",
    message: /should match/,
  },
  {
    name: "cpu counted as GPUs",
    spec: with_({ gpu: { resourceName: "cpu" } }),
    field: "spec.gpu.resourceName",
    message: /must be an extended resource/,
  },
  {
    name: "a kubernetes.io resource counted as GPUs",
    spec: with_({ gpu: { resourceName: "kubernetes.io/batteries" } }),
    field: "spec.gpu.resourceName",
    message: /must be an extended resource/,
  },
  {
    name: "a queue name of 64 characters",
    spec: with_({ gpu: { queueName: "q".repeat(64) } }),
    field: "spec.gpu.queueName",
    message: /Too long/,
  },
  {
    name: "a reserved pod label",
    spec: with_({ podMetadata: { labels: { "longvideo.dev/film": "x" } } }),
    field: "spec.podMetadata.labels",
    message: /set by the operator/,
  },
  {
    name: "a pod label key with a space",
    spec: with_({ podMetadata: { labels: { "cost center": "x" } } }),
    field: "spec.podMetadata.labels",
    message: /keys must be qualified names/,
  },
  {
    name: "a pod annotation key with an uppercase prefix",
    spec: with_({ podMetadata: { annotations: { "Example.com/x": "y" } } }),
    field: "spec.podMetadata.annotations",
    message: /keys must be qualified names/,
  },
  {
    name: "a size that is no quantity",
    spec: with_({ storage: { workspace: { size: "twenty gigs" } } }),
    field: "spec.storage.workspace.size",
    message: /should match/,
  },
  {
    name: "a size below 1Gi",
    spec: with_({ storage: { workspace: { size: "500Mi" } } }),
    field: "spec.storage.workspace.size",
    message: /from 1Gi to 64Ti/,
  },
  {
    name: "an unknown access mode",
    spec: with_({ storage: { workspace: { accessMode: "ReadOnlyMany" } } }),
    field: "spec.storage.workspace.accessMode",
    message: /Unsupported value/,
  },
  {
    name: "an output outside the workspace",
    spec: with_({ output: { path: "../film.mp4" } }),
    field: "spec.output.path",
    message: /should match/,
  },
  {
    name: "a segment memory request above its limit",
    spec: with_({ resources: { requests: { memory: "80Gi" }, limits: { memory: "72Gi" } } }),
    field: "spec.resources.requests.memory",
    message: /must be less than or equal to resources.limits.memory/,
  },
  {
    name: "a LoRA that is no safetensors file",
    spec: with_({ render: { loras: [{ path: "loras/style.ckpt" }] } }),
    field: "spec.render.loras[0].path",
    message: /should match/,
  },
  {
    name: "a LoRA at strength 5",
    spec: with_({ render: { loras: [{ path: "a.safetensors", strength: 5 }] } }),
    field: "spec.render.loras[0].strength",
    message: /less than or equal to 4/,
  },
  {
    name: "an expert LoRA on a film",
    spec: with_({ render: { loras: [{ path: "a.safetensors", expert: "lowNoise" }] } }),
    field: "spec.render.loras",
    message: /which only the pro variant has/,
  },
  {
    name: "an expert LoRA in a film's scene",
    spec: with_({ storyline: [{ prompt: "x", clips: 1, loras: [{ path: "a.safetensors", expert: "highNoise" }] }] }),
    field: "spec.storyline",
    message: /which only the pro variant has/,
  },
  {
    name: "a scene with no steps",
    spec: with_({ storyline: [{ prompt: "x", clips: 1, steps: 0 }] }),
    field: "spec.storyline[0].steps",
    message: /greater than or equal to 1/,
  },
  {
    name: "a keyframe on the first scene",
    spec: with_({ storyline: [{ prompt: "x", clips: 1, keyframe: { url: "https://example.com/k.png" } }] }),
    field: "spec.storyline",
    message: /the first scene starts from spec.referenceImage/,
  },
  {
    name: "a keyframe from two places",
    spec: with_({
      storyline: [
        { prompt: "x", clips: 1 },
        {
          prompt: "y",
          clips: 1,
          keyframe: { url: "https://example.com/k.png", configMap: { name: "k", key: "k.png" } },
        },
      ],
    }),
    field: "spec.storyline[1].keyframe",
    message: /set exactly one keyframe source/,
  },
  {
    name: "seventeen segments at once",
    spec: with_({ render: { parallelism: 17 } }),
    field: "spec.render.parallelism",
    message: /less than or equal to 16/,
  },
  {
    name: "six GPUs, which do not split 40 heads",
    spec: with_({ gpu: { count: 6 } }),
    field: "spec.gpu.count",
    message: /split Wan 14B's 40 attention heads/,
  },
  {
    name: "eleven retries",
    spec: with_({ retry: { limit: 11 } }),
    field: "spec.retry.limit",
    message: /less than or equal to 10/,
  },
  {
    name: "a backoff that shrinks",
    spec: with_({ retry: { backoff: { initialSeconds: 60, maxSeconds: 30 } } }),
    field: "spec.retry.backoff.initialSeconds",
    message: /must not exceed maxSeconds/,
  },
];

describe("invalid LongVideos", () => {
  it("has a table of at least 25 cases", () => {
    expect(invalid.length).toBeGreaterThanOrEqual(25);
  });

  it.each(invalid)("refuses $name, naming $field", async ({ name, spec, field, message }) => {
    const result = await create(`invalid-${String(invalid.findIndex((c) => c.name === name))}`, spec);
    expect(result.ok, "the API server accepted it").toBe(false);
    if (result.ok) return;
    expect(result.status.code).toBe(422);
    // The whole message, as kubectl prints it, names the field and says why.
    expect(result.status.message).toContain(field);
    const cause = result.status.causes.find((c) => c.field === field);
    expect(cause, result.status.message).toBeDefined();
    expect(cause?.message ?? "").toMatch(message);

    const verdict = longVideoSpecSchema.safeParse(spec);
    expect(verdict.success, "zod accepted it").toBe(false);
    if (!verdict.success) {
      const zodFields = fieldErrors(verdict.error.issues, spec, ["spec"]).map((e) => e.field);
      // zod names a bad map key itself (labels.bad key) where CEL can only name the map.
      expect(
        zodFields.some((f) => f === field || f.startsWith(`${field}.`)),
        zodFields.join(", "),
      ).toBe(true);
    }
  });
});

/** Mostly one of `valid`, now and then one of `edge` (values on or past a boundary, or breaking a rule). */
function mostly<T>(valid: readonly T[], edge: readonly T[]): fc.Arbitrary<T> {
  return fc.oneof(
    { arbitrary: fc.constantFrom(...valid), weight: 19 },
    { arbitrary: fc.constantFrom(...edge), weight: 1 },
  );
}

/**
 * Specs drawn around every boundary the schema draws. The generator knows nothing of the rules: each field is
 * usually ordinary and sometimes on or past an edge, so the sample holds valid specs, specs with one fault, and
 * specs whose faults only show in combination (a shot with two scenes, pro motion frames against a short clip).
 */
const prompt = mostly(["a lighthouse at dawn", "x".repeat(2000), "\tnight\n"], [" ", "x".repeat(2001)]);
const scene = fc.oneof(
  { arbitrary: fc.record({ prompt, clips: mostly([1, 2, 64], [0, -1, 65]) }), weight: 10 },
  { arbitrary: fc.record({ prompt, seconds: mostly([0.1, 4.75, 10, 300], [0, -1, 300.1]) }), weight: 10 },
  { arbitrary: fc.record({ prompt, clips: fc.constant(1), seconds: fc.constant(5) }), weight: 1 },
  { arbitrary: fc.record({ prompt }), weight: 1 },
);

const generatedSpec = fc.record(
  {
    variant: mostly(["shot", "film", "pro"], ["talk"]),
    referenceImage: mostly<unknown>(
      [
        { url: "https://example.com/a.png" },
        { configMap: { name: "stills", key: "a.png" } },
        { pvc: { claimName: "stills", path: "a/b.png" } },
      ],
      [
        { url: "http://x" },
        { url: "https://example.com/a b.png" },
        { configMap: { name: "Stills", key: "a.png" } },
        { pvc: { claimName: "stills", path: "a/../b.png" } },
        { url: "https://example.com/a.png", pvc: { claimName: "stills", path: "a.png" } },
        {},
      ],
    ),
    storyline: fc.oneof(
      { arbitrary: fc.array(scene, { minLength: 1, maxLength: 3 }), weight: 19 },
      { arbitrary: fc.constant([]), weight: 1 },
    ),
    render: fc.record(
      {
        resolution: fc.record(
          { width: mostly([256, 480, 832, 1280], [240, 500, 1296]), height: mostly([256, 480, 720], [832, 1280]) },
          { requiredKeys: [] },
        ),
        fps: mostly([1, 16, 25, 60], [0, 23.976, 61]),
        framesPerClip: mostly([17, 21, 77, 81, 121], [13, 80, 125]),
        motionFrames: mostly([1, 2, 5], [0, 4, 16, 17, 33]),
        steps: mostly([1, 50, 200], [0, 201]),
        guidanceScale: mostly([1, 5, 7.5, 20], [0.5, 20.5]),
        seed: mostly([1, 42, 4_294_967_295], [0, 4_294_967_296]),
        backend: mostly(["svi", "animatic"], ["sora"]),
      },
      { requiredKeys: [] },
    ),
    gpu: fc.record(
      {
        count: mostly([1, 2, 8], [0, 9]),
        nodeSelector: mostly<unknown>([{ "longvideo.dev/pool": "h100" }], [{ "bad key": "x" }, { pool: "a/b" }]),
        tolerations: mostly<unknown>(
          [[{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }], [{ operator: "Exists" }]],
          [[{ key: "k", operator: "Exists", value: "v" }], [{ value: "v" }]],
        ),
        queueName: mostly(["team-a"], ["q".repeat(64)]),
      },
      { requiredKeys: [] },
    ),
    podMetadata: fc.record(
      {
        labels: mostly<unknown>([{ team: "a" }, { a: "" }], [{ "longvideo.dev/film": "x" }, { "cost center": "x" }]),
        annotations: mostly<unknown>([{ "example.com/x": "y" }], [{ "Example.com/x": "y" }]),
      },
      { requiredKeys: [] },
    ),
    storage: fc.record(
      {
        workspace: fc.record(
          {
            size: mostly(["20Gi", "1Gi", "1.5Ti", "64Ti", "2000000000"], ["1023Mi", "65Ti", "1e3", "lots"]),
            accessMode: mostly(["ReadWriteOnce", "ReadWriteMany"], ["ReadOnlyMany"]),
            whenDeleted: fc.constantFrom("Delete", "Retain"),
          },
          { requiredKeys: [] },
        ),
        models: mostly<unknown>([{ claimName: "svi-models" }], [{ claimName: "Models" }]),
      },
      { requiredKeys: ["models"] },
    ),
    retry: fc.record(
      {
        limit: mostly([0, 3, 10], [-1, 11]),
        backoff: fc.record(
          { initialSeconds: mostly([1, 10, 60], [0, 700]), maxSeconds: mostly([60, 600], [30, 0]) },
          { requiredKeys: [] },
        ),
      },
      { requiredKeys: [] },
    ),
    suspend: fc.boolean(),
  },
  { requiredKeys: ["referenceImage", "storyline"] },
);

describe("zod and the API server", () => {
  it("give the same verdict on generated specs (server-side dry run)", async () => {
    const verdicts = { accepted: 0, rejected: 0 };
    let sample = 0;
    await fc.assert(
      fc.asyncProperty(generatedSpec, async (spec) => {
        const server = await create(`verdict-${String(sample++)}`, spec);
        if (!server.ok) expect(server.status.code, server.status.message).toBe(422);
        const zod = longVideoSpecSchema.safeParse(spec);
        const zodSays = zod.success ? "accepted" : fieldErrors(zod.error.issues, spec, ["spec"]).map((e) => e.field);
        const serverSays = server.ok ? "accepted" : server.status.message;
        expect(zod.success, `zod: ${JSON.stringify(zodSays)}\nserver: ${serverSays}`).toBe(server.ok);
        verdicts[server.ok ? "accepted" : "rejected"]++;
      }),
      { numRuns: 300 },
    );
    // A sample of only rejections (or only acceptances) would prove little.
    expect(verdicts.accepted).toBeGreaterThan(10);
    expect(verdicts.rejected).toBeGreaterThan(10);
  });
});

/** An affinity whose one required node selector term has this one requirement. */
function nodeAffinityWith(requirement: Record<string, unknown>): Record<string, unknown> {
  return {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [requirement] }] },
    },
  };
}
