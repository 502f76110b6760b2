/**
 * `oci-image.ts --label key=value`: what `make images-push` stamps the git revision with. A label lands in the
 * image's config and changes only the config's (and so the manifest's) digest, never a layer; without --label the
 * config is the definition's as written, so the images `make images` imports keep their digests. Builds the small
 * pause image (Go, no base), so it runs in seconds.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const repoRoot = path.resolve(import.meta.dirname, "../..");
const script = path.join(repoRoot, "test/cluster/oci-image.ts");
const definitionFile = path.join(repoRoot, "test/images/pause.json");
const definition = JSON.parse(readFileSync(definitionFile, "utf8")) as { config: Record<string, unknown> };
const work = mkdtempSync(path.join(tmpdir(), "lv-oci-labels-"));

interface Built {
  readonly digest: string;
  readonly config: { config: Record<string, unknown> & { Labels?: Record<string, string> } };
  readonly layers: string[];
}

const blob = (archive: string, digest: string): string =>
  execFileSync("tar", ["-xOf", archive, `./blobs/sha256/${digest.slice("sha256:".length)}`], { encoding: "utf8" });

/** Builds the pause image into its own archive with the given extra arguments; reads back its config and layers. */
function build(name: string, args: readonly string[]): Built {
  const archive = path.join(work, `${name}.tar`);
  const printed = execFileSync(process.execPath, [script, definitionFile, archive, ...args], { encoding: "utf8" });
  const digest = printed.trim().split(" ")[1] ?? "";
  const manifest = JSON.parse(blob(archive, digest)) as { config: { digest: string }; layers: { digest: string }[] };
  return {
    digest,
    config: JSON.parse(blob(archive, manifest.config.digest)) as Built["config"],
    layers: manifest.layers.map((l) => l.digest),
  };
}

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe("oci-image.ts --label", () => {
  it("adds labels to the config only: the layers stay, the manifest digest changes; without it the config is as defined", () => {
    const plain = build("plain", []);
    const labelled = build("labelled", [
      "--label",
      "org.opencontainers.image.revision=0123abc",
      "--label=x.example/empty=",
      "--label",
      "x.example/kept=a=b",
    ]);
    expect(plain.config.config).toEqual(definition.config);
    expect(labelled.config.config.Labels).toEqual({
      "org.opencontainers.image.revision": "0123abc",
      "x.example/empty": "",
      "x.example/kept": "a=b",
    });
    expect(labelled.layers).toEqual(plain.layers);
    expect(labelled.digest).not.toBe(plain.digest);
    // Reproducible: the same labels give the same image, and none the plain one.
    const labels = ["--label", "org.opencontainers.image.revision=0123abc", "--label=x.example/empty="];
    expect(build("again", [...labels, "--label", "x.example/kept=a=b"]).digest).toBe(labelled.digest);
    expect(build("again-plain", []).digest).toBe(plain.digest);
  });

  it("refuses a label that is not key=value, with its usage and exit status 2", () => {
    const refused = spawnSync(
      process.execPath,
      [script, definitionFile, path.join(work, "x.tar"), "--label", "novalue"],
      {
        encoding: "utf8",
      },
    );
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain("--label wants key=value, got novalue");
  });
});
