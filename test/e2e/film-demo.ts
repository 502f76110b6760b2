/**
 * A user's whole path on the local cluster, as steps shared by `make demo` and the end-to-end test: load the
 * operator and CPU runtime images into the real node, `helm install` the chart, give a film its reference image,
 * apply it, watch it render, and copy the finished film out of its workspace.
 *
 * The steps drive the same tools a user would (kubectl, helm) so what the demo prints is what a user sees.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parse } from "yaml";
import { recordAttemptDir } from "../../src/reconcile/warm-start.ts";
import { runtimePython } from "../../src/cli/render-command.ts";
import { kubectl, run } from "../support/kubectl.ts";

export const repoRoot = path.resolve(import.meta.dirname, "../..");
export const chartDir = path.join(repoRoot, "charts/longvideo-operator");
export { kubectl, run };

/** Builds (cached) and imports the operator and CPU runtime images into the real node's containerd. */
export function loadImages(): void {
  run("bash", [path.join(repoRoot, "test/images/load-images.sh"), "operator", "runtime"]);
}

/** Chart values that point the operator at the images loaded here and at the real node as its "GPU pool". */
export const localClusterValues = [
  ["--set", "image.repository=localhost/longvideo/operator"],
  ["--set", "image.tag=dev"],
  ["--set", "image.pullPolicy=Never"],
  ["--set", "runtime.image=localhost/longvideo/runtime:dev"],
  ["--set", "runtime.pullPolicy=Never"],
  ["--set", "runtime.backend=animatic"],
  ["--set", "gpuPool.nodeSelector.longvideo\\.dev/pool=local"],
  // The real node has no GPU taint to tolerate.
  ["--set-json", "gpuPool.tolerations=[]"],
].flat();

export interface Release {
  readonly name: string;
  readonly namespace: string;
}

/**
 * `helm upgrade --install` of the chart, waiting until its Deployment is available. The namespace is labelled to
 * enforce the `restricted` Pod Security level first, so the operator's own pods must pass it to start.
 */
export function installOperator(release: Release, extraArgs: readonly string[] = []): void {
  ensureRestrictedNamespace(release.namespace);
  const values = [...localClusterValues, ...extraArgs];
  run("helm", [
    "upgrade",
    "--install",
    release.name,
    chartDir,
    "--namespace",
    release.namespace,
    ...values,
    "--wait",
    "--timeout",
    "180s",
  ]);
}

/**
 * Operators of other releases (namespace/deployment), besides the one in `ownNamespace`: a test's films would be
 * acted on by them too, since every operator watches all namespaces.
 */
export function otherOperators(ownNamespace: string): string[] {
  return kubectl(
    "get",
    "deployments",
    "--all-namespaces",
    "-l",
    "app.kubernetes.io/name=longvideo-operator",
    "-o",
    "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}{'\\n'}{end}",
  )
    .split("\n")
    .filter((d) => d !== "" && !d.startsWith(`${ownNamespace}/`));
}

/** Creates (or keeps) a namespace that enforces the `restricted` Pod Security level. */
export function ensureRestrictedNamespace(name: string): void {
  const namespace = `apiVersion: v1
kind: Namespace
metadata:
  name: ${name}
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
`;
  run("kubectl", ["apply", "-f", "-"], namespace);
}

/**
 * A reference image for the film, stored in a ConfigMap: the harbour at dawn that scripts/draw-reference-image.py
 * draws (with the runtime's Python), so the animatic preview of the harbour storyline starts from a harbour.
 */
export function createReferenceImage(namespace: string, name: string, key: string, size: string): void {
  const dir = mkdtempSync(path.join(os.tmpdir(), "lv-reference-"));
  try {
    const file = path.join(dir, key);
    drawReferenceImage(file, size);
    const map = kubectl("create", "configmap", name, `--from-file=${key}=${file}`, "--dry-run=client", "-o", "yaml");
    run("kubectl", ["apply", "--server-side", "--force-conflicts", "-n", namespace, "-f", "-"], map);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Draws the demo's reference image (a harbour at dawn) into `file`, `size` as WIDTHxHEIGHT. */
export function drawReferenceImage(file: string, size: string): void {
  run(runtimePython(undefined), [path.join(repoRoot, "scripts/draw-reference-image.py"), file, size]);
}

/** The parts of a LongVideo the demo reads. */
export interface FilmView {
  readonly metadata: { readonly name: string; readonly namespace: string };
  readonly spec: { readonly render?: { readonly fps?: number; readonly resolution?: string } };
  readonly status?: {
    readonly phase?: string;
    readonly progress?: string;
    readonly output?: { readonly path: string; readonly frames: number; readonly seconds: number };
    readonly conditions?: readonly {
      readonly type: string;
      readonly status: string;
      readonly reason?: string;
      readonly message?: string;
    }[];
    readonly segments?: readonly {
      readonly index: number;
      readonly hash: string;
      readonly state: string;
      readonly node?: string;
      readonly attempt?: number;
      readonly inputDigest?: string;
      readonly inputFrom?: string;
      readonly outputDigest?: string;
      readonly frames?: number;
      readonly startTime?: string;
      readonly finishTime?: string;
      readonly phases?: Readonly<Record<string, number>>;
      readonly committedAt?: string;
      readonly denoiseStartedAt?: string;
    }[];
    readonly startTime?: string;
    readonly completionTime?: string;
  };
}

export function readFilm(namespace: string, name: string): FilmView {
  return JSON.parse(kubectl("get", "longvideo", name, "-n", namespace, "-o", "json")) as FilmView;
}

/** Applies a LongVideo manifest into a namespace and returns its name. */
export function applyFilm(namespace: string, manifestPath: string): string {
  const manifest = parse(readFileSync(manifestPath, "utf8")) as { metadata: { name: string } };
  kubectl("apply", "-n", namespace, "-f", manifestPath);
  return manifest.metadata.name;
}

/** Applies a LongVideo given as an object (such as one a test builds) into a namespace and returns its name. */
export function applyFilmObject(
  namespace: string,
  manifest: { readonly metadata: { readonly name: string } },
  asUser?: string,
): string {
  const impersonate = asUser === undefined ? [] : [`--as=${asUser}`];
  run("kubectl", [...impersonate, "apply", "-n", namespace, "-f", "-"], JSON.stringify(manifest));
  return manifest.metadata.name;
}

/** Polls the film until it succeeds or fails, calling `onChange` whenever phase or progress moves. */
export async function watchFilm(
  namespace: string,
  name: string,
  onChange: (film: FilmView) => void,
  timeoutMs: number,
): Promise<FilmView> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    const film = readFilm(namespace, name);
    const seen = `${film.status?.phase ?? ""} ${film.status?.progress ?? ""}`;
    if (seen !== last) {
      last = seen;
      onChange(film);
    }
    if (film.status?.phase === "Succeeded" || film.status?.phase === "Failed") return film;
    if (Date.now() > deadline) {
      throw new Error(`film ${namespace}/${name} did not finish in ${String(timeoutMs / 1000)}s: ${seen}`);
    }
    await sleep(1000);
  }
}

/**
 * Where the film's workspace lives on this machine: the local-path provisioner keeps every volume as a directory,
 * named by the PersistentVolume bound to the film's workspace claim.
 */
export function workspaceDirectory(namespace: string, claimName: string): string {
  const volume = kubectl("get", "pvc", claimName, "-n", namespace, "-o", "jsonpath={.spec.volumeName}").trim();
  if (!volume) throw new Error(`claim ${namespace}/${claimName} is not bound`);
  const pv = JSON.parse(kubectl("get", "pv", volume, "-o", "json")) as {
    spec: { hostPath?: { path: string }; local?: { path: string } };
  };
  const dir = pv.spec.hostPath?.path ?? pv.spec.local?.path;
  if (!dir) throw new Error(`volume ${volume} has no local path`);
  return dir;
}

/**
 * The directory in `workspace` holding a segment's clip, poster, latents and result.json: the runtime contract's
 * `attemptDir()` of the attempt its status record names: its plan hash, the input digest it consumed ("" when the
 * record has none; a warm attempt's is keyed by the attempt it followed) and its attempt number. (A segment whose
 * attempt reported an earlier attempt's result as reused has its files in that earlier attempt's directory; these
 * tests render every segment once.)
 */
export function segmentFilesDirectory(
  workspace: string,
  record: {
    readonly index: number;
    readonly hash: string;
    readonly inputDigest?: string;
    readonly inputFrom?: string;
    readonly attempt?: number;
  },
): string {
  return path.join(workspace, recordAttemptDir(record));
}

/** Copies the finished film and its contact sheet out of the workspace into `outDir`; returns their paths. */
export function copyFilmOut(
  namespace: string,
  film: FilmView,
  outDir: string,
): { readonly film: string; readonly contactSheet: string; readonly workspace: string } {
  const output = film.status?.output;
  if (!output) throw new Error(`film ${film.metadata.name} has no output`);
  const workspace = workspaceDirectory(namespace, `${film.metadata.name}-workspace`);
  const relative = path.relative("/workspace", output.path);
  const source = path.join(workspace, relative);
  const sheetSource = source.replace(/\.[^.]+$/, ".contact.png");
  mkdirSync(outDir, { recursive: true });
  const target = path.join(outDir, `${film.metadata.name}.mp4`);
  const sheet = path.join(outDir, `${film.metadata.name}.contact.png`);
  copyFileSync(source, target);
  copyFileSync(sheetSource, sheet);
  return { film: target, contactSheet: sheet, workspace };
}

/** What ffprobe counts in a video file: decoded frames, duration, and the stream's size and rate. */
export interface VideoFacts {
  readonly frames: number;
  readonly seconds: number;
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly codec: string;
}

export function videoFacts(file: string): VideoFacts {
  const probed = JSON.parse(
    run("ffprobe", [
      "-v",
      "error",
      "-count_frames",
      "-select_streams",
      "v:0",
      "-show_entries",
      "stream=nb_read_frames,width,height,r_frame_rate,codec_name:format=duration",
      "-of",
      "json",
      file,
    ]),
  ) as {
    streams: { nb_read_frames: string; width: number; height: number; r_frame_rate: string; codec_name: string }[];
    format: { duration: string };
  };
  const stream = probed.streams[0];
  if (!stream) throw new Error(`${file} has no video stream`);
  const [num, den] = stream.r_frame_rate.split("/").map(Number);
  return {
    frames: Number(stream.nb_read_frames),
    seconds: Number(probed.format.duration),
    width: stream.width,
    height: stream.height,
    fps: (num ?? 0) / (den ?? 1),
    codec: stream.codec_name,
  };
}

/** The frames of a clip as small grayscale images (what continuity checks compare). */
export function grayFrames(file: string, width: number, height: number): Uint8Array[] {
  const raw = execFileSync(
    "ffmpeg",
    [
      "-loglevel",
      "error",
      "-i",
      file,
      "-vf",
      `scale=${String(width)}:${String(height)},format=gray`,
      "-f",
      "rawvideo",
      "-",
    ],
    { maxBuffer: 256 * 1024 * 1024 },
  );
  const size = width * height;
  const frames: Uint8Array[] = [];
  for (let offset = 0; offset + size <= raw.length; offset += size) frames.push(raw.subarray(offset, offset + size));
  return frames;
}

/** Mean absolute difference of two grayscale frames over their first `rows` rows (0..255). */
export function meanAbsoluteDifference(a: Uint8Array, b: Uint8Array, width: number, rows: number): number {
  let sum = 0;
  const n = width * rows;
  for (let i = 0; i < n; i++) sum += Math.abs((a[i] ?? 0) - (b[i] ?? 0));
  return sum / n;
}
