/**
 * The client against a server that accepts connections and never answers, as an API server behind a frozen network
 * path does: an aborted read ends at once, and closing drops what still hangs after its grace period. Then against
 * an HTTPS server with certificates made for the test: it verifies the server, presents the kubeconfig's client
 * certificate and token, and re-reads a token file the server refused.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import type { TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { ClusterCredentials } from "./cluster-credentials.ts";
import { KubeClient } from "./kube-client.ts";
import { loadClusterCredentials } from "./load-cluster-credentials.ts";

let server: Server;
let client: KubeClient;

beforeAll(async () => {
  // Reads every request and never writes a byte back.
  server = createServer(() => undefined);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const credentials = new ClusterCredentials({
    server: `http://127.0.0.1:${String(port)}`,
    source: "test",
    tls: { rejectUnauthorized: false },
    authenticator: { kind: "none" },
  });
  client = new KubeClient(credentials, { requestDone: () => undefined });
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe("KubeClient on a connection that never answers", () => {
  it("ends a read when its signal aborts, as a network error", async () => {
    const abort = new AbortController();
    const pending = client.get("/api/v1/namespaces/a/pods/b", undefined, abort.signal);
    setTimeout(() => {
      abort.abort();
    }, 100);
    const started = performance.now();
    const result = await pending;
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.kind).toBe("Network");
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it("closes within its grace period while a request still hangs, ending that request", async () => {
    const hung = client.get("/api/v1/namespaces/a/pods/c");
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = performance.now();
    await client.close(300);
    const closedAfter = performance.now() - started;
    expect(closedAfter).toBeGreaterThanOrEqual(250);
    expect(closedAfter).toBeLessThan(3_000);
    const result = await hung;
    expect(result.ok).toBe(false);
  });
});

const openssl = (() => {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!openssl)("KubeClient over TLS with the operator's own credentials", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "lv-kube-tls-"));
  const pki = (name: string) => path.join(dir, name);
  /** A CA, a server certificate for the name `kubernetes.test` only, and a client certificate it signed. */
  function makeCertificates(): void {
    const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    run("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=lv-test-ca");
    writeFileSync(pki("server.ext"), "subjectAltName=DNS:kubernetes.test\n");
    for (const [name, subject] of [
      ["server", "/CN=kubernetes.test"],
      ["client", "/O=longvideo/CN=operator-test"],
      ["rotated", "/O=longvideo/CN=operator-rotated"],
    ] as const) {
      run("req", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject);
      run(
        "x509",
        "-req",
        "-in",
        `${name}.csr`,
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-out",
        `${name}.crt`,
        ...(name === "server" ? ["-extfile", "server.ext"] : []),
      );
    }
  }

  interface Seen {
    readonly clientName: string | undefined;
    readonly authorization: string | undefined;
  }
  const seen: Seen[] = [];
  let server: ReturnType<typeof createHttpsServer>;
  let port = 0;
  /** Answers 401 to the token "stale" and at /refuse, 200 with what it saw to anything else. */
  beforeAll(async () => {
    makeCertificates();
    server = createHttpsServer(
      {
        key: readFileSync(pki("server.key")),
        cert: readFileSync(pki("server.crt")),
        ca: readFileSync(pki("ca.crt")),
        requestCert: true,
        rejectUnauthorized: false,
      },
      (request, response) => {
        const socket = request.socket as TLSSocket;
        const peer = socket.authorized ? socket.getPeerCertificate().subject.CN : undefined;
        const entry = {
          clientName: typeof peer === "string" ? peer : undefined,
          authorization: request.headers.authorization,
        };
        seen.push(entry);
        const refused = entry.authorization === "Bearer stale" || request.url === "/refuse";
        response.writeHead(refused ? 401 : 200, { "Content-Type": "application/json" });
        response.end(JSON.stringify(refused ? { kind: "Status", reason: "Unauthorized", code: 401 } : entry));
      },
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  async function clientFor(cluster: Record<string, unknown>, user: Record<string, unknown>): Promise<KubeClient> {
    const file = path.join(dir, `config-${String(seen.length)}-${String(Math.random()).slice(2)}`);
    writeFileSync(
      file,
      stringify({
        "current-context": "t",
        clusters: [{ name: "t", cluster: { server: `https://127.0.0.1:${String(port)}`, ...cluster } }],
        users: [{ name: "t", user }],
        contexts: [{ name: "t", context: { cluster: "t", user: "t" } }],
      }),
    );
    const credentials = await loadClusterCredentials({ env: { KUBECONFIG: file } });
    if (!credentials.ok) throw new Error(JSON.stringify(credentials.error));
    return new KubeClient(credentials.value, { requestDone: () => undefined });
  }

  it("verifies the server by its tls-server-name and presents the client certificate and the token", async () => {
    const client = await clientFor(
      { "certificate-authority": "ca.crt", "tls-server-name": "kubernetes.test" },
      { "client-certificate": "client.crt", "client-key": "client.key", token: "secret-token" },
    );
    try {
      const answer = await client.get<Seen>("/api/v1/namespaces");
      expect(answer).toEqual({
        ok: true,
        value: { clientName: "operator-test", authorization: "Bearer secret-token" },
      });
    } finally {
      await client.close();
    }
  });

  it("refuses a server whose certificate does not name the address, and one signed by another CA", async () => {
    const byAddress = await clientFor({ "certificate-authority": "ca.crt" }, {});
    const systemRoots = await clientFor({ "tls-server-name": "kubernetes.test" }, {});
    try {
      for (const client of [byAddress, systemRoots]) {
        const answer = await client.get("/api/v1/namespaces");
        expect(answer.ok ? undefined : answer.error.kind).toBe("Network");
      }
    } finally {
      await Promise.all([byAddress.close(), systemRoots.close()]);
    }
  });

  it("talks to any server with insecure-skip-tls-verify, sending no client certificate it was not given", async () => {
    const client = await clientFor({ "insecure-skip-tls-verify": true }, { username: "a", password: "b" });
    try {
      expect(await client.get("/api/v1/namespaces")).toEqual({
        ok: true,
        value: { authorization: `Basic ${Buffer.from("a:b").toString("base64")}` },
      });
    } finally {
      await client.close();
    }
  });

  it("re-reads a token file at once after the server refused its token", async () => {
    writeFileSync(pki("token"), "stale");
    const client = await clientFor(
      { "certificate-authority": "ca.crt", "tls-server-name": "kubernetes.test" },
      { tokenFile: "token" },
    );
    try {
      const refused = await client.get("/api/v1/namespaces");
      expect(refused.ok ? undefined : refused.error).toMatchObject({ kind: "Unauthorized", status: 401 });
      writeFileSync(pki("token"), "rotated");
      const accepted = await client.get<Seen>("/api/v1/namespaces");
      expect(accepted.ok ? accepted.value.authorization : accepted.error).toBe("Bearer rotated");
    } finally {
      await client.close();
    }
  });

  it("gets a new connection pool when an exec plugin hands out a new client certificate after a 401", async () => {
    // The plugin answers with the first certificate, then with the rotated one.
    const plugin = pki("cert-plugin.mjs");
    writeFileSync(
      plugin,
      `import { existsSync, readFileSync, writeFileSync } from "node:fs";
const name = existsSync("${pki("ran")}") ? "rotated" : "client";
writeFileSync("${pki("ran")}", "");
const read = (file) => readFileSync("${dir}/" + file, "utf8");
process.stdout.write(JSON.stringify({
  apiVersion: "client.authentication.k8s.io/v1",
  kind: "ExecCredential",
  status: { clientCertificateData: read(name + ".crt"), clientKeyData: read(name + ".key") },
}));
`,
    );
    const client = await clientFor(
      { "certificate-authority": "ca.crt", "tls-server-name": "kubernetes.test" },
      { exec: { apiVersion: "client.authentication.k8s.io/v1", command: process.execPath, args: [plugin] } },
    );
    try {
      const first = await client.get<Seen>("/whoami");
      expect(first.ok ? first.value.clientName : first.error).toBe("operator-test");
      const refused = await client.get("/refuse");
      expect(refused.ok ? undefined : refused.error.status).toBe(401);
      const rotated = await client.get<Seen>("/whoami");
      expect(rotated.ok ? rotated.value.clientName : rotated.error).toBe("operator-rotated");
    } finally {
      await client.close(1_000);
    }
  });
});
