/**
 * Kueue's controller as the integration tests run it: the binary and CRDs `test/cluster/build-binaries.sh kueue`
 * built from Go modules into the cache (`make deps` does), run as a local process against the local cluster.
 *
 * Out of cluster, Kueue needs three things a Deployment would give it (docs/adr/0017-kueue-admission.md):
 * - certificates for its webhook server, which always starts though no API server calls it here (its webhooks are
 *   not registered: the operator creates Jobs suspended and labelled, which is all the Job webhook would add);
 * - a certificate for its metrics server at a path it hard-codes, /etc/kueue/metrics/certs. The process gets a
 *   mount namespace of its own in which /etc is a read-only overlay adding that directory, so nothing is written
 *   to the machine's /etc;
 * - a configuration: no leader election, internal certificate management off, the visibility API off, the health
 *   endpoint on a free loopback port (readiness is waited on there), metrics off.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "./free-port.ts";
import { kubectl } from "./kubectl.ts";
import { localClusterKubeconfig } from "./test-kube-config.ts";

const repoRoot = path.resolve(import.meta.dirname, "../..");

/** The pinned version, from test/cluster/versions.env (the build script's own source of truth). */
export function kueueVersion(): string {
  const versions = readFileSync(path.join(repoRoot, "test/cluster/versions.env"), "utf8");
  const version = /^KUEUE_VERSION=(\S+)$/m.exec(versions)?.[1];
  if (!version) throw new Error("test/cluster/versions.env names no KUEUE_VERSION");
  return version;
}

/** Where build-binaries.sh put the binary (`kueue`) and the CRDs (`crds/`), as test/cluster/env.sh computes it. */
export function kueueHome(): string {
  const cache =
    process.env.LV_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), ".cache"), "longvideo");
  const home = path.join(cache, "bin", `kueue-${kueueVersion()}`);
  if (!existsSync(path.join(home, "kueue")) || !existsSync(path.join(home, "crds"))) {
    throw new Error(`Kueue ${kueueVersion()} is not built in ${home}: run \`make binaries\` (or make deps)`);
  }
  return home;
}

/** Installs (or updates) Kueue's CRDs, and waits until the API server serves them. */
export function installKueueCrds(): void {
  const crds = path.join(kueueHome(), "crds");
  kubectl("apply", "--server-side", "--force-conflicts", "-f", crds);
  kubectl("wait", "--for=condition=Established", "-f", crds, "--timeout=60s");
}

/** Removes Kueue's CRDs and with them every Kueue object, leaving the cluster as it was before the tests. */
export function uninstallKueueCrds(): void {
  kubectl("delete", "--ignore-not-found", "--wait=true", "--timeout=120s", "-f", path.join(kueueHome(), "crds"));
}

export interface KueueProcess {
  readonly pid: number;
  /** Everything it logged so far. */
  logs(): string;
  /** Signals it and waits for it to exit; removes its certificates and configuration. */
  stop(): Promise<number | null>;
}

/** A self-signed certificate for 127.0.0.1 and localhost, as tls.crt and tls.key in `dir`. */
function writeCertificate(dir: string): void {
  mkdirSync(dir, { recursive: true });
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=kueue-local",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
      "-keyout",
      path.join(dir, "tls.key"),
      "-out",
      path.join(dir, "tls.crt"),
    ],
    { stdio: "ignore" },
  );
}

/**
 * Starts Kueue against the local cluster (its CRDs installed first) and waits until it is ready. It manages Jobs
 * that name a LocalQueue, in any namespace, and no other.
 */
export async function startKueue(): Promise<KueueProcess> {
  const home = kueueHome();
  const dir = mkdtempSync(path.join(tmpdir(), "lv-kueue-"));
  const webhookCerts = path.join(dir, "webhook-certs");
  writeCertificate(webhookCerts);
  // The overlay's top layer over /etc: a tree holding only kueue/metrics/certs.
  const etc = path.join(dir, "etc");
  writeCertificate(path.join(etc, "kueue/metrics/certs"));
  const healthPort = await freePort();
  const webhookPort = await freePort();
  const config = path.join(dir, "config.yaml");
  writeFileSync(
    config,
    JSON.stringify({
      apiVersion: "config.kueue.x-k8s.io/v1beta2",
      kind: "Configuration",
      // Named, not needed: with leader election and certificate management off, nothing is kept there.
      namespace: "kueue-system",
      health: { healthProbeBindAddress: `127.0.0.1:${String(healthPort)}` },
      metrics: { bindAddress: "0" },
      webhook: { host: "127.0.0.1", port: webhookPort, certDir: webhookCerts },
      leaderElection: { leaderElect: false },
      internalCertManagement: { enable: false },
      manageJobsWithoutQueueName: false,
      integrations: { frameworks: ["batch/job"] },
    }),
  );
  let output = "";
  const script =
    'mount -t overlay lv-kueue-etc -o "lowerdir=$1:/etc" /etc && exec setpriv --pdeathsig TERM "$2" --config="$3" --feature-gates=VisibilityOnDemand=false --zap-log-level=info';
  const child = spawn(
    "unshare",
    ["--mount", "--propagation", "private", "sh", "-c", script, "kueue", etc, path.join(home, "kueue"), config],
    {
      env: { ...process.env, KUBECONFIG: process.env.KUBECONFIG ?? localClusterKubeconfig },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => {
      resolve(code);
    }),
  );
  const kueue: KueueProcess = {
    pid: child.pid ?? -1,
    logs: () => output,
    stop: async () => {
      // unshare, sh and setpriv exec into Kueue: this pid is Kueue's own. Should the test process die first, the
      // kernel sends Kueue SIGTERM (setpriv --pdeathsig), so it never outlives the tests.
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const code = await exited;
      rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`Kueue exited with ${String(child.exitCode)}:\n${output.slice(-4000)}`);
    }
    try {
      const ready = await fetch(`http://127.0.0.1:${String(healthPort)}/readyz`);
      if (ready.ok) return kueue;
    } catch {
      // Not listening yet.
    }
    await sleep(200);
  }
  await kueue.stop();
  throw new Error(`Kueue was not ready within 60 s:\n${output.slice(-4000)}`);
}
