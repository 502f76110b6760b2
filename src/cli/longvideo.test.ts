import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { durationText, textTable } from "./plan-table.ts";

const root = path.resolve(import.meta.dirname, "../..");
const cli = path.join(root, "src/cli/longvideo.ts");
const examples = readdirSync(path.join(root, "manifests/examples")).filter((f) => f.endsWith(".yaml"));

/** Runs the CLI on the Node running the tests (Node 24, which runs .ts directly). */
function run(...args: string[]): { status: number; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync(process.execPath, [cli, ...args], { encoding: "utf8", stdio: "pipe" });
    return { status: 0, stdout, stderr: "" };
  } catch (error) {
    const failed = error as { status: number; stdout: string; stderr: string };
    return { status: failed.status, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe("longvideo plan", () => {
  it("has the examples the issue asks for", () => {
    expect(examples).toEqual(
      expect.arrayContaining(["shot.yaml", "film.yaml", "pro.yaml", "gpu-pool.yaml", "talk.yaml", "dance.yaml"]),
    );
  });

  it("shows each segment's own steps, guidance and extra LoRAs (the fast-path example)", () => {
    const result = run("plan", path.join(root, "manifests/examples/pro-fast.yaml"));
    expect(result.status).toBe(0);
    const rows = result.stdout
      .split("\n")
      .filter((line) => /^\d+\s+\d+\.\d+\s/.test(line))
      .map((line) => line.split(/\s+/).slice(1, 6));
    // scene.clip, seed, steps, guidance, LoRAs: the film's 4-step pair, scene 1's seed, scene 2's steps and style.
    expect(rows[0]).toEqual(["0.0", "0", "4", "1", "2"]);
    expect(rows[5]).toEqual(["1.0", "7", "4", "1", "2"]);
    expect(rows.at(-1)).toEqual(["2.2", "462", "8", "1", "3"]);
  });

  it.each(examples)("plans manifests/examples/%s", (file) => {
    // The talk example's clips follow its audio: 7.64 s is what scripts/example-inputs.sh's voice lasts.
    const audio = file === "talk.yaml" ? ["--audio-seconds", "7.64"] : [];
    const result = run("plan", path.join(root, "manifests/examples", file), ...audio);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^LongVideo \S+: (shot|film|pro|talk|dance), \d+ scene/);
    expect(result.stdout).toMatch(/^SEGMENT\s+(CHAIN\s+)?SCENE\s+SEED/m);
  });

  it("shows a keyframed film's chains, its critical path and its render time at its parallelism", () => {
    const result = run("plan", path.join(root, "manifests/examples/keyframes.yaml"), "--clip-seconds", "60");
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(
      "chains: 3, 3 segment(s) at once: about 3m00s of rendering (critical path: chain 0, 3m00s; one after another: 7m00s)",
    );
    const chains = result.stdout
      .split("\n")
      .filter((line) => /^\d+\s+\d+(-\d+)?\s+\d+-\d+\s/.test(line))
      .map((line) => line.split(/\s+/));
    expect(chains).toEqual([
      ["0", "0-1", "0-2", "3", "3m00s", "critical"],
      ["1", "2", "3-4", "2", "2m00s"],
      ["2", "3", "5-6", "2", "2m00s"],
    ]);
    // Each chain keeps its last clip's tail: the film is three films of 3, 2 and 2 clips, cut together.
    expect(result.stdout).toMatch(/^4\s+1\s+2\.1\s+.*\s0\/0\s+81\s/m);
  });

  it("plans a talk film from its audio's duration, and says when it needs one", () => {
    const talk = path.join(root, "manifests/examples/talk.yaml");
    const planned = run("plan", talk, "--audio-seconds", "7.64");
    expect(planned.stdout).toMatch(
      /^LongVideo talking-head: talk, 1 scene\(s\), 3 segment\(s\), 243 frames = 9\.72s at 25 fps/,
    );
    expect(planned.stdout).toMatch(/^0\s+audio\s+3\s+243\s/m);
    const unplanned = run("plan", talk);
    expect(unplanned.status).toBe(1);
    expect(unplanned.stderr).toContain("spec.audio: Invalid value: not read yet");
  });

  it("rejects an invalid manifest the way the API server words it, with exit status 1", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "lv-cli-"));
    const file = path.join(dir, "bad.yaml");
    writeFileSync(
      file,
      [
        "apiVersion: longvideo.dev/v1alpha1",
        "kind: LongVideo",
        "metadata: {name: bad}",
        "spec:",
        "  referenceImage: {url: 'https://example.com/a.png'}",
        "  storyline: [{prompt: x, clips: 1, seconds: 2}]",
        "  render: {backend: animatic, framesPerClip: 80}",
      ].join("\n"),
    );
    const result = run("plan", file);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('The LongVideo "bad" is invalid: ');
    expect(result.stderr).toContain(
      "* spec.storyline[0]: Invalid value: set exactly one of clips or seconds for each scene",
    );
    expect(result.stderr).toContain("* spec.render.framesPerClip: Invalid value: 80: must be 4n+1");
  });

  it("explains its usage with exit status 2", () => {
    expect(run().status).toBe(2);
    const missing = run("plan");
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain("error: missing required argument 'file'");
    expect(missing.stderr).toContain("Usage: longvideo plan [options] <file>");
    expect(run("plan", "x.yaml", "--clip-seconds", "-1").stderr).toContain("takes a positive number");
    expect(run("frobnicate").stderr).toContain("error: unknown command 'frobnicate'");
    expect(run("logs", "harbour", "--segment", "x").stderr).toContain("takes a segment index");
  }, 60_000);

  it("says which file it cannot read", () => {
    const result = run("plan", "/nonexistent/film.yaml");
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/^longvideo: cannot read \/nonexistent\/film.yaml: ENOENT/);
  });
});

describe("plan table", () => {
  it("pads columns like kubectl", () => {
    expect(
      textTable([
        ["A", "BB", "C"],
        ["xxx", "y", "z"],
      ]),
    ).toBe("A    BB  C\nxxx  y   z");
  });

  it.each([
    [0, "0s"],
    [59.6, "1m00s"],
    [95, "1m35s"],
    [5400, "1h30m"],
  ])("writes %s seconds as %s", (seconds, text) => {
    expect(durationText(seconds)).toBe(text);
  });
});
