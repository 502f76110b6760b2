/**
 * `longvideo render` with the real runtime worker in the project's Python environment (runtime-image/install-dev.sh
 * makes it on first use): a small film rendered on this machine, without a cluster, checked with ffprobe.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { runtimePython } from "../../src/cli/render-command.ts";

const root = path.resolve(import.meta.dirname, "../..");
const cli = path.join(root, "src/cli/longvideo.ts");
const dir = mkdtempSync(path.join(tmpdir(), "lv-render-"));
let python = "";

function longvideo(...args: string[]) {
  const result = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", timeout: 600_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function probe(file: string): { frames: number; seconds: number; width: number; height: number } {
  const text = execFileSync(
    "ffprobe",
    [
      ...["-v", "error", "-count_frames", "-select_streams", "v:0"],
      ...["-show_entries", "stream=nb_read_frames,width,height:format=duration", "-of", "json", file],
    ],
    { encoding: "utf8" },
  );
  const probed = JSON.parse(text) as {
    streams: { nb_read_frames: string; width: number; height: number }[];
    format: { duration: string };
  };
  const [stream] = probed.streams;
  return {
    frames: Number(stream?.nb_read_frames),
    seconds: Number(probed.format.duration),
    width: stream?.width ?? 0,
    height: stream?.height ?? 0,
  };
}

const film = (referenceImage: string) => `apiVersion: longvideo.dev/v1alpha1
kind: LongVideo
metadata: {name: quay}
spec:
  variant: film
  referenceImage: ${referenceImage}
  storyline:
    - {prompt: A quiet quay at dawn, clips: 2}
    - {prompt: A boat leaves the harbour, clips: 1}
  render: {backend: svi, resolution: {width: 320, height: 256}, framesPerClip: 17, fps: 8}
  gpu: {nodeSelector: {example.com/never: "true"}, priorityClassName: not-here}
`;

beforeAll(() => {
  // The first run on a fresh machine installs the virtualenv (cached afterwards).
  python = runtimePython(undefined);
  execFileSync(python, [path.join(root, "scripts/draw-reference-image.py"), path.join(dir, "harbour.png"), "320x256"]);
}, 1_800_000);

describe("longvideo render", () => {
  it("renders the planned film and its contact sheet with the animatic backend, whatever the spec's backend and placement", () => {
    const manifest = path.join(dir, "quay.yaml");
    writeFileSync(manifest, film("{configMap: {name: quay-still, key: image.png}}"));
    const plan = longvideo("plan", manifest);
    const planned = /(\d+) frames = ([\d.]+)s at 8 fps/.exec(plan.stdout);
    expect(planned, plan.stdout + plan.stderr).not.toBeNull();

    const out = path.join(dir, "out");
    const result = longvideo(
      "render",
      manifest,
      "-o",
      out,
      "--reference",
      path.join(dir, "harbour.png"),
      "--python",
      python,
    );
    expect(result.stderr).toContain("rendering quay: 3 segment(s)");
    expect(result.status, result.stderr).toBe(0);
    const filmPath = path.join(out, "quay.mp4");
    const sheet = path.join(out, "quay.contact.png");
    expect(result.stdout).toBe(
      `film:          ${filmPath} (${planned?.[1] ?? ""} frames, ${Number(planned?.[2]).toFixed(2)}s)\ncontact sheet: ${sheet}\n`,
    );
    const facts = probe(filmPath);
    expect(facts.frames).toBe(Number(planned?.[1]));
    expect(facts.seconds).toBeCloseTo(Number(planned?.[2]), 1);
    expect([facts.width, facts.height]).toEqual([320, 256]);
    // A PNG: its signature.
    expect(readFileSync(sheet).subarray(1, 4).toString()).toBe("PNG");
    expect(existsSync(path.join(out, "quay.workspace", "logs", "segment-2.log"))).toBe(true);
  }, 600_000);

  it("renders with the real svi code given models: tiny random-weight ones, the planned frames", () => {
    const models = path.join(dir, "models");
    execFileSync(python, ["-m", "longvideo_runtime.svi.tiny", "--layout", "model-cache", models], {
      env: { ...process.env, PYTHONPATH: path.join(root, "runtime-image/src") },
      stdio: ["ignore", "ignore", "pipe"],
    });
    const manifest = path.join(dir, "svi.yaml");
    writeFileSync(
      manifest,
      film("{configMap: {name: quay-still, key: image.png}}").replace(
        "resolution: {width: 320, height: 256}, framesPerClip: 17",
        "resolution: {width: 256, height: 256}, framesPerClip: 17, steps: 2",
      ),
    );
    const planned = /(\d+) frames = /.exec(longvideo("plan", manifest).stdout);
    const out = path.join(dir, "svi-out");
    const reference = path.join(dir, "harbour.png");
    const result = longvideo(
      "render",
      manifest,
      "-o",
      out,
      "--reference",
      reference,
      "--models",
      models,
      "--python",
      python,
    );
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toContain("rendering quay: 3 segment(s)");
    expect(result.stderr).toContain("svi backend");
    expect(readFileSync(path.join(out, "quay.workspace", "logs", "segment-1.log"), "utf8")).toContain(
      '"backend":"svi"',
    );
    const facts = probe(path.join(out, "quay.mp4"));
    expect(facts.frames).toBe(Number(planned?.[1]));
    expect([facts.width, facts.height]).toEqual([256, 256]);
  }, 600_000);

  it("says where the reference image is when it is in the cluster and none is given", () => {
    const manifest = path.join(dir, "in-cluster.yaml");
    writeFileSync(manifest, film("{pvc: {claimName: stills, path: quay.png}}"));
    const result = longvideo("render", manifest, "-o", path.join(dir, "none"), "--python", python);
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(
      "longvideo: spec.referenceImage of quay is in the cluster, in claim stills (path quay.png): give the image with --reference FILE\n",
    );
  });

  it("names the field of an invalid film, as the API server would", () => {
    const manifest = path.join(dir, "bad.yaml");
    writeFileSync(
      manifest,
      film("{url: 'https://example.com/a.png'}").replace("framesPerClip: 17", "framesPerClip: 18"),
    );
    const result = longvideo("render", manifest, "--python", python);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("spec.render.framesPerClip: Invalid value: 18: must be 4n+1");
  });
});
