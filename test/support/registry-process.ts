/**
 * The local image registry: distribution's cmd/registry, built from Go modules by `test/cluster/build-binaries.sh
 * registry` (`make binaries`) into the cache, run as a process on loopback with plain HTTP. Images pushed to it
 * with `make images-push REGISTRY=127.0.0.1:<port>` are what the real node pulls in the end-to-end test; the
 * local cluster trusts 127.0.0.1:$LV_REGISTRY_PORT (cluster-up.sh writes containerd's hosts.toml for it).
 *
 * Its configuration is generated beside its storage, under the clone's .cache/registry/: no TLS, no auth, deletes
 * allowed, no debug or metrics listener, traces exported nowhere.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

const repoRoot = path.resolve(import.meta.dirname, "../..");

/** The port the local cluster trusts: $LV_REGISTRY_PORT, defaulting as test/cluster/env.sh does. */
export function trustedRegistryPort(): number {
  const port = Number(process.env.LV_REGISTRY_PORT ?? "15000");
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new Error(`LV_REGISTRY_PORT is not a port: ${String(process.env.LV_REGISTRY_PORT)}`);
  }
  return port;
}

/** The pinned binary, where build-binaries.sh puts it (test/cluster/env.sh's REGISTRY_BIN). */
export function registryBinary(): string {
  const versions = readFileSync(path.join(repoRoot, "test/cluster/versions.env"), "utf8");
  const version = /^DISTRIBUTION_VERSION=(\S+)$/m.exec(versions)?.[1];
  if (!version) throw new Error("test/cluster/versions.env names no DISTRIBUTION_VERSION");
  const cache =
    process.env.LV_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), ".cache"), "longvideo");
  const binary = path.join(cache, "bin", `registry-${version}`, "registry");
  if (!existsSync(binary)) {
    throw new Error(`the registry ${version} is not built at ${binary}: run \`make binaries\` (or make deps)`);
  }
  return binary;
}

export interface RegistryProcess {
  /** host:port, as image references and `make images-push REGISTRY=` name it. */
  readonly host: string;
  /** Where it keeps blobs and manifests. */
  readonly storage: string;
  /** Everything it logged so far. */
  logs(): string;
  /** Signals it and waits for it to exit; the storage is kept. */
  stop(): Promise<number | null>;
}

export interface RegistryOptions {
  /** Loopback port; default the one the cluster trusts. */
  readonly port?: number;
  /** Start from empty storage (what was pushed before is removed). */
  readonly empty?: boolean;
}

/** The registry's configuration (YAML is a superset of JSON, so this is written as JSON). */
function registryConfig(port: number, storage: string): string {
  return JSON.stringify(
    {
      version: 0.1,
      log: { level: "warn", accesslog: { disabled: true } },
      storage: {
        filesystem: { rootdirectory: storage },
        delete: { enabled: true },
        cache: { blobdescriptor: "inmemory" },
        maintenance: { uploadpurging: { enabled: false } },
      },
      http: { addr: `127.0.0.1:${String(port)}`, headers: { "X-Content-Type-Options": ["nosniff"] } },
    },
    null,
    2,
  );
}

/** Starts the registry on 127.0.0.1 and waits until its API answers. Fails if the port is taken. */
export async function startRegistry(options: RegistryOptions = {}): Promise<RegistryProcess> {
  const binary = registryBinary();
  const port = options.port ?? trustedRegistryPort();
  const host = `127.0.0.1:${String(port)}`;
  const dir = path.join(repoRoot, ".cache/registry", String(port));
  const storage = path.join(dir, "storage");
  if (options.empty) rmSync(storage, { recursive: true, force: true });
  mkdirSync(storage, { recursive: true });
  const config = path.join(dir, "config.yml");
  writeFileSync(config, registryConfig(port, storage));

  let output = "";
  // setpriv execs the registry, so this pid is the registry's; should the caller die first, the kernel sends the
  // registry SIGTERM, so it never outlives the test.
  const child = spawn("setpriv", ["--pdeathsig", "TERM", binary, "serve", config], {
    env: { ...process.env, OTEL_TRACES_EXPORTER: "none" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => {
      resolve(code);
    }),
  );
  const registry: RegistryProcess = {
    host,
    storage,
    logs: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(
        `the registry exited with ${String(child.exitCode)} (is ${host} taken?):\n${output.slice(-4000)}`,
      );
    }
    try {
      const answer = await fetch(`http://${host}/v2/`);
      if (answer.ok) return registry;
    } catch {
      // Not listening yet.
    }
    await sleep(100);
  }
  await registry.stop();
  throw new Error(`the registry did not answer on ${host} within 30 s:\n${output.slice(-4000)}`);
}
