/**
 * Assembles OCI image archives without a Docker engine: a Debian root filesystem made by mmdebstrap (cached by
 * its inputs) plus application layers, written as an OCI layout in a tar that `ctr images import` accepts.
 *
 * Usage: node test/cluster/oci-image.ts <image-definition.json> [output.tar]
 * Prints the archive path and the manifest digest. Builds are reproducible (sorted tar entries, fixed mtimes,
 * gzip without timestamps), so unchanged inputs give the same digest and callers can skip a re-import.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
} from "node:fs";
import { rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { Transform } from "node:stream";
import { z } from "zod";

const repoRoot = path.resolve(import.meta.dirname, "../..");
const cacheRoot =
  process.env.LV_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "longvideo");

const layerSource = z.union([
  z.strictObject({ goBuild: z.string(), to: z.string().startsWith("/") }),
  z.strictObject({ copy: z.string(), to: z.string().startsWith("/") }),
  // mmdebstrap runs no hooks in its extract variant, so applet links of a static binary come as their own layer.
  z.strictObject({ symlinks: z.string(), to: z.string().startsWith("/"), names: z.array(z.string()).min(1) }),
]);

const imageDefinition = z.strictObject({
  name: z.string().regex(/^[a-z0-9./-]+:[\w.-]+$/, "name must be repository:tag"),
  base: z
    .strictObject({
      suite: z.string().default("bookworm"),
      variant: z.enum(["extract", "custom", "essential", "apt", "minbase"]).default("apt"),
      packages: z.array(z.string()).default([]),
      /** mmdebstrap customize hooks; `$1` is the root filesystem. Not run by the extract variant. */
      customize: z.array(z.string()).default([]),
    })
    .optional(),
  layers: z.array(layerSource).default([]),
  config: z.strictObject({
    Entrypoint: z.array(z.string()).optional(),
    Cmd: z.array(z.string()).optional(),
    Env: z.array(z.string()).optional(),
    User: z.string().optional(),
    WorkingDir: z.string().optional(),
    Labels: z.record(z.string(), z.string()).optional(),
  }),
});
type ImageDefinition = z.infer<typeof imageDefinition>;
type BaseDefinition = NonNullable<ImageDefinition["base"]>;
type LayerSource = z.infer<typeof layerSource>;

/** A compressed layer blob and the digest of its uncompressed tar, which the image config lists. */
interface Layer {
  readonly blobPath: string;
  readonly digest: string;
  readonly diffId: string;
  readonly size: number;
}

const sha256Hex = (data: string | Buffer): string => createHash("sha256").update(data).digest("hex");

/** Gzips a tar into the blob store, hashing both sides in one pass. */
async function layerFromTar(tarPath: string): Promise<Layer> {
  const blobs = path.join(cacheRoot, "oci-blobs");
  mkdirSync(blobs, { recursive: true });
  const uncompressed = createHash("sha256");
  const compressed = createHash("sha256");
  const partial = path.join(blobs, `partial-${String(process.pid)}-${path.basename(tarPath)}`);
  const hashInput = new Transform({
    transform(chunk: Buffer, _enc, done) {
      uncompressed.update(chunk);
      done(null, chunk);
    },
  });
  const hashOutput = new Transform({
    transform(chunk: Buffer, _enc, done) {
      compressed.update(chunk);
      done(null, chunk);
    },
  });
  await pipeline(
    createReadStream(tarPath),
    hashInput,
    createGzip({ level: 1 }),
    hashOutput,
    createWriteStream(partial),
  );
  const digest = `sha256:${compressed.digest("hex")}`;
  const blobPath = path.join(blobs, digest.slice("sha256:".length));
  renameSync(partial, blobPath);
  return { blobPath, digest, diffId: `sha256:${uncompressed.digest("hex")}`, size: statSync(blobPath).size };
}

/** The layer of a cached tar, computed once and remembered beside it. */
async function cachedLayerFromTar(tarPath: string): Promise<Layer> {
  const sidecar = `${tarPath}.layer.json`;
  if (existsSync(sidecar)) {
    const layer = JSON.parse(readFileSync(sidecar, "utf8")) as Layer;
    if (existsSync(layer.blobPath)) return layer;
  }
  const layer = await layerFromTar(tarPath);
  writeFileSync(sidecar, JSON.stringify(layer));
  return layer;
}

const reproducibleTarFlags = [
  "--sort=name",
  "--mtime=@0",
  "--owner=0",
  "--group=0",
  "--numeric-owner",
  "--format=posix",
];
// PAX headers carry atime/ctime unless told not to; dropping them keeps the digest stable.
const paxFlags = ["--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime"];

function hostSources(): string[] {
  const deb822 = "/etc/apt/sources.list.d/debian.sources";
  if (existsSync(deb822)) return [deb822];
  const legacy = "/etc/apt/sources.list";
  return existsSync(legacy) ? [legacy] : [];
}

/** The base root filesystem tar, made by mmdebstrap once per distinct definition. */
function rootfsTar(base: BaseDefinition): string {
  const key = sha256Hex(JSON.stringify([base.suite, base.variant, [...base.packages].sort(), base.customize])).slice(
    0,
    16,
  );
  const dir = path.join(cacheRoot, "rootfs");
  const tar = path.join(dir, `${base.suite}-${base.variant}-${key}.tar`);
  if (existsSync(tar)) return tar;
  mkdirSync(dir, { recursive: true });
  const partial = `${tar}.partial`;
  process.stderr.write(`oci-image: building root filesystem ${path.basename(tar)} with mmdebstrap\n`);
  const args = [
    "--quiet",
    `--variant=${base.variant}`,
    "--mode=root",
    "--format=tar",
    ...(base.packages.length > 0 ? [`--include=${base.packages.join(",")}`] : []),
    ...base.customize.map((hook) => `--customize-hook=${hook}`),
    // Caches and logs inside the image would make it bigger and its digest depend on the day.
    '--customize-hook=rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*',
    base.suite,
    partial,
    ...hostSources(),
  ];
  execFileSync("mmdebstrap", args, {
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, SOURCE_DATE_EPOCH: "0" },
  });
  renameSync(partial, tar);
  return tar;
}

/** Stages one application layer's files into a directory laid out as they appear in the image. */
function stageLayer(source: LayerSource, staging: string): void {
  const target = path.join(staging, source.to);
  mkdirSync(path.dirname(target), { recursive: true });
  if ("goBuild" in source) {
    execFileSync("go", ["build", "-trimpath", "-ldflags", "-s -w", "-o", target, "."], {
      cwd: path.resolve(repoRoot, source.goBuild),
      env: { ...process.env, CGO_ENABLED: "0", GOFLAGS: "-buildvcs=false" },
      stdio: ["ignore", "inherit", "inherit"],
    });
  } else if ("copy" in source) {
    execFileSync("cp", ["-a", path.resolve(repoRoot, source.copy), target]);
  } else {
    mkdirSync(target, { recursive: true });
    for (const name of source.names) symlinkSync(source.symlinks, path.join(target, name));
  }
}

async function applicationLayer(source: LayerSource, work: string, index: number): Promise<Layer> {
  const staging = path.join(work, `layer-${String(index)}`);
  mkdirSync(staging, { recursive: true });
  stageLayer(source, staging);
  const tar = path.join(work, `layer-${String(index)}.tar`);
  execFileSync("tar", ["-cf", tar, ...reproducibleTarFlags, ...paxFlags, "-C", staging, "."]);
  return layerFromTar(tar);
}

function writeBlob(layoutDir: string, content: string): { digest: string; size: number } {
  const digest = `sha256:${sha256Hex(content)}`;
  writeFileSync(path.join(layoutDir, "blobs", "sha256", digest.slice("sha256:".length)), content);
  return { digest, size: Buffer.byteLength(content) };
}

async function build(definitionPath: string, output: string | undefined): Promise<void> {
  const definition = imageDefinition.parse(JSON.parse(readFileSync(definitionPath, "utf8")));
  const work = mkdtempSync(path.join(os.tmpdir(), "oci-image-"));
  try {
    const layers: Layer[] = [];
    if (definition.base) layers.push(await cachedLayerFromTar(rootfsTar(definition.base)));
    for (const [index, source] of definition.layers.entries()) layers.push(await applicationLayer(source, work, index));

    const layout = path.join(work, "layout");
    mkdirSync(path.join(layout, "blobs", "sha256"), { recursive: true });
    for (const layer of layers) {
      execFileSync("ln", ["-f", layer.blobPath, path.join(layout, "blobs", "sha256", layer.digest.slice(7))]);
    }
    const config = writeBlob(
      layout,
      JSON.stringify({
        architecture: "amd64",
        os: "linux",
        created: "1970-01-01T00:00:00Z",
        config: definition.config,
        rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
        history: layers.map(() => ({ created: "1970-01-01T00:00:00Z", created_by: "longvideo oci-image" })),
      }),
    );
    const manifest = writeBlob(
      layout,
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
        layers: layers.map((l) => ({
          mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
          digest: l.digest,
          size: l.size,
        })),
      }),
    );
    writeFileSync(path.join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    const [, tag] = definition.name.split(/:(?=[^:]+$)/);
    writeFileSync(
      path.join(layout, "index.json"),
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: [
          {
            mediaType: "application/vnd.oci.image.manifest.v1+json",
            ...manifest,
            platform: { architecture: "amd64", os: "linux" },
            annotations: { "io.containerd.image.name": definition.name, "org.opencontainers.image.ref.name": tag },
          },
        ],
      }),
    );
    const archive =
      output ??
      path.join(cacheRoot, "images", `${definition.name.replace(/[/:]/g, "_")}-${manifest.digest.slice(7, 19)}.tar`);
    mkdirSync(path.dirname(archive), { recursive: true });
    if (!existsSync(archive)) {
      // Dereference the hard-linked blobs so the archive stands alone.
      execFileSync("tar", ["-cf", `${archive}.partial`, ...reproducibleTarFlags, "-C", layout, "."]);
      renameSync(`${archive}.partial`, archive);
    }
    process.stdout.write(`${archive} ${manifest.digest}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const [definitionArg, outputArg] = process.argv.slice(2);
if (definitionArg === undefined) {
  process.stderr.write("usage: node test/cluster/oci-image.ts <image-definition.json> [output.tar]\n");
  process.exit(2);
}
await build(definitionArg, outputArg);
