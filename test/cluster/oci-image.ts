/**
 * Assembles OCI image archives without a Docker engine: a Debian root filesystem made by mmdebstrap (cached by
 * its inputs) plus application layers, written as an OCI layout in a tar that `ctr images import` accepts.
 *
 * Usage: node test/cluster/oci-image.ts <image-definition.json> [output.tar | --unpack] [--label key=value]...
 * Prints the archive path and the manifest digest. Builds are reproducible (sorted tar entries, fixed mtimes,
 * gzip without timestamps), so unchanged inputs give the same digest and callers can skip a re-import.
 * With --unpack, no archive is written: it prints the manifest digest and the image's layers extracted into
 * directories (once per layer digest), top layer first and separated by colons: an overlayfs `lowerdir=` value, so a
 * test can chroot into the image's root filesystem without a container runtime.
 * Each --label adds (or overrides) a label of the image's config: for what must not be in the definition because it
 * changes with every commit (the revision a published image is built from), which would change every digest.
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
  readdirSync,
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
  z.strictObject({
    copy: z.string(),
    to: z.string().startsWith("/"),
    /** tar --exclude patterns (e.g. `__pycache__`): stray build products must not change the digest. */
    exclude: z.array(z.string()).default([]),
  }),
  /**
   * Python wheels pinned with hashes in a requirements file (`name==version --hash=sha256:...`), downloaded with
   * pip (no dependency resolution) into the user's cache for the image's Python and platform, and unpacked into
   * `to` (wheels are zips): a directory for PYTHONPATH, no pip in the image. Cached by the file's content.
   */
  z.strictObject({
    wheels: z.string(),
    to: z.string().startsWith("/"),
    python: z.string().regex(/^3\.\d+$/, "python must be major.minor, such as 3.13"),
    /** pip's --platform: one tag, or several (PyPI's CUDA wheels are tagged manylinux_2_28, 2_27 and 2014). */
    platform: z.union([z.string(), z.array(z.string()).min(1)]).default("manylinux2014_x86_64"),
    /**
     * Byte-compile the unpacked sources with the base's python<python> (chroot, as root; hash-checked .pyc files,
     * valid whatever the mtimes), so a read-only container does not recompile them at every start.
     */
    compile: z.boolean().default(false),
  }),
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
      /** A Debian mirror URL; unset: the host's apt sources, which must carry `suite`. */
      mirror: z.url().optional(),
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
type WheelsSource = Extract<LayerSource, { wheels: string }>;

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
// Unpacked files get the umask's modes; fixing them keeps the digest independent of it.
const modeFlags = ["--mode=u+rwX,go+rX,go-w"];

function hostSources(): string[] {
  const deb822 = "/etc/apt/sources.list.d/debian.sources";
  if (existsSync(deb822)) return [deb822];
  const legacy = "/etc/apt/sources.list";
  return existsSync(legacy) ? [legacy] : [];
}

/** The base root filesystem tar, made by mmdebstrap once per distinct definition. */
function rootfsTar(base: BaseDefinition): string {
  const inputs: unknown[] = [base.suite, base.variant, [...base.packages].sort(), base.customize];
  // Only a definition that names a mirror has it in the key, so the keys of the others stay as they were.
  if (base.mirror !== undefined) inputs.push(base.mirror);
  const key = sha256Hex(JSON.stringify(inputs)).slice(0, 16);
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
    ...(base.mirror !== undefined ? [base.mirror] : hostSources()),
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
    for (const name of source.exclude) {
      execFileSync("find", [target, "-depth", "-name", name, "-exec", "rm", "-rf", "{}", "+"]);
    }
  } else if ("wheels" in source) {
    throw new Error("wheel layers are built by wheelsLayer");
  } else {
    mkdirSync(target, { recursive: true });
    for (const name of source.names) symlinkSync(source.symlinks, path.join(target, name));
  }
}

interface PinnedWheel {
  readonly requirement: string;
  readonly sha256: string;
}

/** `name==version --hash=sha256:<hex>` lines; every wheel must be pinned to one version and one hash. */
function pinnedWheels(file: string): PinnedWheel[] {
  const text = readFileSync(file, "utf8").replace(/\\\n/g, " ");
  const wheels: PinnedWheel[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*$/, "").trim();
    if (line === "") continue;
    const match = /^([A-Za-z0-9._-]+==[A-Za-z0-9.+!-]+)\s+--hash=sha256:([0-9a-f]{64})$/.exec(line);
    if (!match?.[1] || !match[2]) throw new Error(`${file}: not "name==version --hash=sha256:<hex>": ${line}`);
    wheels.push({ requirement: match[1], sha256: match[2] });
  }
  if (wheels.length === 0) throw new Error(`${file} pins no wheels`);
  return wheels;
}

const fileSha256 = (file: string): string => sha256Hex(readFileSync(file));

/**
 * The pinned wheels in the download cache, fetched by pip only when one is missing (pip checks the hashes).
 * Returns the wheel files, in the order of the requirements file.
 */
function downloadWheels(source: WheelsSource, file: string, wheels: readonly PinnedWheel[]): string[] {
  const dir = path.join(cacheRoot, "wheels", "files");
  mkdirSync(dir, { recursive: true });
  const present = (): Map<string, string> => {
    const byHash = new Map<string, string>();
    for (const name of readdirSync(dir).filter((n) => n.endsWith(".whl"))) {
      byHash.set(fileSha256(path.join(dir, name)), path.join(dir, name));
    }
    return byHash;
  };
  let byHash = present();
  if (wheels.some((w) => !byHash.has(w.sha256))) {
    process.stderr.write(`oci-image: downloading the wheels of ${source.wheels} for CPython ${source.python}\n`);
    const tag = source.python.replace(".", "");
    execFileSync(
      "python3",
      [
        ...["-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps", "--require-hashes"],
        ...["--only-binary=:all:", "--implementation=cp", `--python-version=${source.python}`, `--abi=cp${tag}`],
        ...[source.platform].flat().map((platform) => `--platform=${platform}`),
        ...["--dest", dir, "--requirement", file],
      ],
      { stdio: ["ignore", "inherit", "inherit"] },
    );
    byHash = present();
  }
  return wheels.map((w) => {
    const found = byHash.get(w.sha256);
    if (found === undefined) throw new Error(`pip downloaded no wheel with the hash pinned for ${w.requirement}`);
    return found;
  });
}

/** Unpacks a wheel (a zip) into a site directory; its .data/purelib and platlib go to the top, scripts are dropped. */
const unpackWheelScript = `
import pathlib, shutil, sys, zipfile
site = pathlib.Path(sys.argv[1])
for wheel in sys.argv[2:]:
    zipfile.ZipFile(wheel).extractall(site)
for data in site.glob("*.data"):
    for lib in ("purelib", "platlib"):
        if (data / lib).is_dir():
            shutil.copytree(data / lib, site, dirs_exist_ok=True)
    shutil.rmtree(data)
`;

/** Byte-compiles `site` with the Python of an unpacked base layer, as if it were at `to` in the image. */
function compileInBase(site: string, baseDir: string, python: string, to: string): void {
  const inBase = `/tmp/oci-image-site-${String(process.pid)}`;
  execFileSync("mv", [site, path.join(baseDir, inBase)]);
  try {
    execFileSync(
      "chroot",
      [baseDir, `python${python}`, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", "-d", to, inBase],
      {
        stdio: ["ignore", "ignore", "inherit"],
        env: { PATH: `/usr/sbin:/usr/bin:/sbin:/bin:${process.env.PATH ?? ""}` },
      },
    );
  } finally {
    execFileSync("mv", [path.join(baseDir, inBase), site]);
  }
}

/** The layer of a wheels source, cached by the requirements file's content, the Python version and platform. */
async function wheelsLayer(source: WheelsSource, work: string, index: number, base: Layer | undefined): Promise<Layer> {
  const file = path.resolve(repoRoot, source.wheels);
  const wheels = pinnedWheels(file);
  if (source.compile && base === undefined) throw new Error(`${source.wheels}: compile needs a base with Python`);
  const compiledBy = source.compile ? base?.diffId : undefined;
  const key = sha256Hex(JSON.stringify([wheels, source.to, source.python, source.platform, compiledBy])).slice(0, 16);
  const dir = path.join(cacheRoot, "wheels");
  const tar = path.join(dir, `site-${key}.tar`);
  if (!existsSync(tar)) {
    const files = downloadWheels(source, file, wheels);
    const staging = path.join(work, `layer-${String(index)}`);
    const site = path.join(staging, source.to);
    mkdirSync(site, { recursive: true });
    execFileSync("python3", ["-c", unpackWheelScript, site, ...files]);
    if (base !== undefined && source.compile) {
      process.stderr.write(`oci-image: byte-compiling ${source.to} with the base's python${source.python}\n`);
      const [baseDir] = unpackLayers([base]);
      if (baseDir === undefined) throw new Error("the base layer did not unpack");
      compileInBase(site, baseDir, source.python, source.to);
    }
    execFileSync("tar", [
      "-cf",
      `${tar}.partial`,
      ...reproducibleTarFlags,
      ...paxFlags,
      ...modeFlags,
      "-C",
      staging,
      ".",
    ]);
    renameSync(`${tar}.partial`, tar);
  }
  return cachedLayerFromTar(tar);
}

async function applicationLayer(
  source: LayerSource,
  work: string,
  index: number,
  base: Layer | undefined,
): Promise<Layer> {
  if ("wheels" in source) return wheelsLayer(source, work, index, base);
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

/** Extracts each layer once into <cache>/layers/<diffId>; returns the directories, top layer first. */
function unpackLayers(layers: readonly Layer[]): string[] {
  const root = path.join(cacheRoot, "layers");
  mkdirSync(root, { recursive: true });
  const dirs = layers.map((layer) => {
    const dir = path.join(root, layer.diffId.slice("sha256:".length));
    if (!existsSync(dir)) {
      const partial = `${dir}.partial-${String(process.pid)}`;
      rmSync(partial, { recursive: true, force: true });
      mkdirSync(partial);
      execFileSync("tar", ["-xzf", layer.blobPath, "-C", partial, "--numeric-owner"]);
      renameSync(partial, dir);
    }
    return dir;
  });
  return dirs.reverse();
}

async function build(
  definitionPath: string,
  output: string | undefined,
  unpack: boolean,
  labels: Readonly<Record<string, string>>,
): Promise<void> {
  const parsed = imageDefinition.parse(JSON.parse(readFileSync(definitionPath, "utf8")));
  // Without --label the config is the definition's as it is (no empty Labels added), so its digest is unchanged.
  const definition =
    Object.keys(labels).length === 0
      ? parsed
      : { ...parsed, config: { ...parsed.config, Labels: { ...parsed.config.Labels, ...labels } } };
  const work = mkdtempSync(path.join(os.tmpdir(), "oci-image-"));
  try {
    const layers: Layer[] = [];
    const base = definition.base ? await cachedLayerFromTar(rootfsTar(definition.base)) : undefined;
    if (base) layers.push(base);
    for (const [index, source] of definition.layers.entries()) {
      layers.push(await applicationLayer(source, work, index, base));
    }

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
    if (unpack) {
      process.stdout.write(`${manifest.digest} ${unpackLayers(layers).join(":")}\n`);
      return;
    }
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

const usage =
  "usage: node test/cluster/oci-image.ts <image-definition.json> [output.tar | --unpack] [--label key=value]...\n";

/** The command line: positional arguments, --unpack, and every --label key=value (later ones win). */
function parseArgs(argv: readonly string[]): { positional: string[]; unpack: boolean; labels: Record<string, string> } {
  const positional: string[] = [];
  const labels: Record<string, string> = {};
  let unpack = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "--unpack") {
      unpack = true;
    } else if (arg === "--label" || arg.startsWith("--label=")) {
      const pair = arg === "--label" ? argv[++i] : arg.slice("--label=".length);
      const match = /^([^=\s]+)=(.*)$/s.exec(pair ?? "");
      if (!match?.[1] || match[2] === undefined) throw new Error(`--label wants key=value, got ${String(pair)}`);
      labels[match[1]] = match[2];
    } else {
      positional.push(arg);
    }
  }
  return { positional, unpack, labels };
}

let parsedArgs: ReturnType<typeof parseArgs>;
try {
  parsedArgs = parseArgs(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`oci-image: ${(error as Error).message}\n${usage}`);
  process.exit(2);
}
const [definitionArg, outputArg, ...extra] = parsedArgs.positional;
if (definitionArg === undefined || extra.length > 0 || (parsedArgs.unpack && outputArg !== undefined)) {
  process.stderr.write(usage);
  process.exit(2);
}
await build(definitionArg, outputArg, parsedArgs.unpack, parsedArgs.labels);
