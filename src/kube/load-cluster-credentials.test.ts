/**
 * The operator's kubeconfig loader on files it writes itself: inline data and relative files, token files that
 * rotate, the pod's service account, exec plugins and their expiry, and errors that name the file and the field.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import type { ClusterCredentials } from "./cluster-credentials.ts";
import type { CredentialsError, CredentialsResult } from "./credentials-error.ts";
import { loadClusterCredentials } from "./load-cluster-credentials.ts";
import type { CredentialsLoadOptions } from "./load-cluster-credentials.ts";

const root = mkdtempSync(path.join(os.tmpdir(), "lv-credentials-"));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});
let made = 0;
/** A fresh directory under the test's temporary root. */
function directory(): string {
  made += 1;
  const dir = path.join(root, String(made));
  mkdirSync(dir, { recursive: true });
  return dir;
}
function write(file: string, content: string): string {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, content);
  return file;
}

/** Looks like PEM to the loader, which leaves parsing to TLS. */
const pemOf = (label: string, body: string) => `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
const caPem = pemOf("CERTIFICATE", "Y2E=");
const certPem = pemOf("CERTIFICATE", "Y2VydA==");
const keyPem = pemOf("PRIVATE KEY", "a2V5");
const base64 = (text: string) => Buffer.from(text).toString("base64");

interface Kubeconfig {
  readonly cluster?: Record<string, unknown>;
  readonly user?: Record<string, unknown>;
  readonly context?: Record<string, unknown>;
  readonly currentContext?: string;
}
/** One cluster `c`, one user `u`, one context `x` that names them, current unless told otherwise. */
function kubeconfig({ cluster = {}, user = {}, context = {}, currentContext = "x" }: Kubeconfig): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    "current-context": currentContext,
    clusters: [{ name: "c", cluster: { server: "https://127.0.0.1:6443", ...cluster } }],
    users: [{ name: "u", user }],
    contexts: [{ name: "x", context: { cluster: "c", user: "u", ...context } }],
  });
}

/** A clock the test moves. */
function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let now = start;
  return {
    now: () => now,
    advance: (ms) => {
      now += ms;
    },
  };
}

async function loaded(
  env: Record<string, string>,
  options: Partial<CredentialsLoadOptions> = {},
): Promise<ClusterCredentials> {
  const result = await loadClusterCredentials({ homeDirectory: directory(), ...options, env });
  if (!result.ok) throw new Error(`expected credentials, got ${JSON.stringify(result.error)}`);
  return result.value;
}
async function failed(env: Record<string, string>, options: Partial<CredentialsLoadOptions> = {}) {
  const result = await loadClusterCredentials({
    homeDirectory: directory(),
    serviceAccountDirectory: directory(),
    ...options,
    env,
  });
  if (result.ok) throw new Error(`expected an error, got credentials from ${result.value.source}`);
  return result.error;
}
async function authentication(credentials: ClusterCredentials) {
  const result = await credentials.authentication();
  if (!result.ok) throw new Error(`expected authentication, got ${JSON.stringify(result.error)}`);
  return result.value;
}
function errorOf<T>(result: CredentialsResult<T>): CredentialsError | undefined {
  return result.ok ? undefined : result.error;
}

describe("a kubeconfig", () => {
  it("with inline data: CA, client certificate and key, a token and the context's namespace", async () => {
    const file = write(
      path.join(directory(), "config"),
      kubeconfig({
        cluster: { "certificate-authority-data": base64(caPem), server: "https://10.1.2.3:6443/" },
        user: { "client-certificate-data": base64(certPem), "client-key-data": base64(keyPem), token: "abc" },
        context: { namespace: "films" },
      }),
    );
    const credentials = await loaded({ KUBECONFIG: file });
    expect(credentials.server).toBe("https://10.1.2.3:6443");
    expect(credentials.namespace).toBe("films");
    expect(credentials.source).toContain(file);
    expect(await authentication(credentials)).toEqual({
      headers: { Authorization: "Bearer abc" },
      tls: { ca: caPem, cert: certPem, key: keyPem, rejectUnauthorized: true },
    });
  });

  it("with files relative to its own directory, inline data winning over a file", async () => {
    const dir = directory();
    write(path.join(dir, "pki", "ca.pem"), caPem);
    write(path.join(dir, "certs", "client.pem"), certPem);
    write(path.join(dir, "certs", "client.key"), keyPem);
    const file = write(
      path.join(dir, "pki", "config"),
      kubeconfig({
        cluster: { "certificate-authority": "ca.pem" },
        user: {
          "client-certificate": "../certs/client.pem",
          "client-key": "../certs/missing.key",
          "client-key-data": base64(keyPem),
        },
      }),
    );
    const { tls, headers } = await authentication(await loaded({ KUBECONFIG: file }));
    expect(tls).toEqual({ ca: caPem, cert: certPem, key: keyPem, rejectUnauthorized: true });
    expect(headers).toEqual({});
  });

  it("with a token file, re-read once a minute, or at once after the server refused the token", async () => {
    const dir = directory();
    const tokenFile = write(path.join(dir, "secrets", "token"), "first\n");
    const file = write(path.join(dir, "config"), kubeconfig({ user: { tokenFile: "secrets/token" } }));
    const time = clock();
    const credentials = await loaded({ KUBECONFIG: file }, { now: time.now });
    expect((await authentication(credentials)).headers).toEqual({ Authorization: "Bearer first" });
    writeFileSync(tokenFile, "second");
    time.advance(59_000);
    expect((await authentication(credentials)).headers).toEqual({ Authorization: "Bearer first" });
    time.advance(2_000);
    expect((await authentication(credentials)).headers).toEqual({ Authorization: "Bearer second" });
    writeFileSync(tokenFile, "third");
    credentials.rejected();
    expect((await authentication(credentials)).headers).toEqual({ Authorization: "Bearer third" });
    // A failed re-read keeps the last token rather than failing every request.
    rmSync(tokenFile);
    time.advance(61_000);
    expect((await authentication(credentials)).headers).toEqual({ Authorization: "Bearer third" });
  });

  it("skipping TLS verification, naming the server for TLS, with basic auth", async () => {
    const file = write(
      path.join(directory(), "config"),
      kubeconfig({
        cluster: {
          "insecure-skip-tls-verify": true,
          "certificate-authority-data": base64(caPem),
          "tls-server-name": "kubernetes.default",
        },
        user: { username: "admin", password: "secret" },
      }),
    );
    expect(await authentication(await loaded({ KUBECONFIG: file }))).toEqual({
      headers: { Authorization: `Basic ${base64("admin:secret")}` },
      tls: { rejectUnauthorized: false, servername: "kubernetes.default" },
    });
  });

  it("from ~/.kube/config when KUBECONFIG is unset, as JSON too", async () => {
    const home = directory();
    write(
      path.join(home, ".kube", "config"),
      JSON.stringify({
        "current-context": "x",
        clusters: [{ name: "c", cluster: { server: "http://127.0.0.1:8001" } }],
        contexts: [{ name: "x", context: { cluster: "c" } }],
      }),
    );
    const credentials = await loaded({}, { homeDirectory: home });
    expect(credentials.server).toBe("http://127.0.0.1:8001");
    expect(await authentication(credentials)).toEqual({ headers: {}, tls: { rejectUnauthorized: true } });
  });

  it("merged from KUBECONFIG's list: the first file to set a name or the current context wins, missing files skipped", async () => {
    const dir = directory();
    const first = write(
      path.join(dir, "first"),
      stringify({
        clusters: [{ name: "c", cluster: { server: "https://first:6443" } }],
        users: [{ name: "u", user: { token: "first-token" } }],
      }),
    );
    const second = write(
      path.join(dir, "second"),
      stringify({
        "current-context": "y",
        clusters: [
          { name: "c", cluster: { server: "https://second:6443" } },
          { name: "d", cluster: { server: "https://d:6443" } },
        ],
        users: [{ name: "u", user: { token: "second-token" } }],
        contexts: [{ name: "y", context: { cluster: "c", user: "u" } }],
      }),
    );
    const third = write(path.join(dir, "third"), kubeconfig({ currentContext: "x" }));
    const list = [path.join(dir, "absent"), first, second, third].join(path.delimiter);
    const credentials = await loaded({ KUBECONFIG: list });
    expect(credentials.server).toBe("https://first:6443");
    expect((await authentication(credentials)).headers).toEqual({ Authorization: "Bearer first-token" });
    expect(credentials.source).toContain('context "y"');
  });
});

describe("a kubeconfig the loader refuses, naming the file and the field", () => {
  const cases: readonly (readonly [string, Kubeconfig, Partial<CredentialsError>])[] = [
    ["no current context", { currentContext: "" }, { kind: "Invalid", field: "current-context", reason: "not set" }],
    ["a current context that does not exist", { currentContext: "z" }, { kind: "Invalid", field: "current-context" }],
    [
      "a context naming a missing cluster",
      { context: { cluster: "gone" } },
      { kind: "Invalid", field: 'contexts["x"].context.cluster', reason: 'no cluster named "gone"' },
    ],
    [
      "a context naming a missing user",
      { context: { user: "nobody" } },
      { kind: "Invalid", field: 'contexts["x"].context.user' },
    ],
    [
      "a cluster without a server",
      { cluster: { server: "" } },
      { kind: "Invalid", field: 'clusters["c"].cluster.server' },
    ],
    [
      "a server that is not a URL",
      { cluster: { server: "127.0.0.1:6443" } },
      { kind: "Invalid", field: 'clusters["c"].cluster.server' },
    ],
    [
      "an unreadable certificate authority file",
      { cluster: { "certificate-authority": "no-such-ca.pem" } },
      { kind: "Unreadable", field: 'clusters["c"].cluster.certificate-authority' },
    ],
    [
      "certificate data that is not base64 PEM",
      { user: { "client-certificate-data": "bm90IHBlbQ==", "client-key-data": base64(keyPem) } },
      { kind: "Invalid", field: 'users["u"].user.client-certificate-data' },
    ],
    [
      "a client certificate without its key",
      { user: { "client-certificate-data": base64(certPem) } },
      { kind: "Invalid", field: 'users["u"].user.client-key' },
    ],
    [
      "an unreadable token file",
      { user: { tokenFile: "no-such-token" } },
      { kind: "Unreadable", field: 'users["u"].user.tokenFile' },
    ],
    [
      "a token and a password",
      { user: { token: "t", username: "a", password: "b" } },
      { kind: "Invalid", field: 'users["u"].user' },
    ],
    [
      "a legacy auth-provider",
      { user: { "auth-provider": { name: "gcp", config: {} } } },
      { kind: "Unsupported", field: 'users["u"].user.auth-provider' },
    ],
    ["impersonation", { user: { as: "someone" } }, { kind: "Unsupported", field: 'users["u"].user.as' }],
    [
      "a proxy",
      { cluster: { "proxy-url": "http://proxy:3128" } },
      { kind: "Unsupported", field: 'clusters["c"].cluster.proxy-url' },
    ],
    [
      "a field of the wrong type",
      { cluster: { "insecure-skip-tls-verify": "yes" } },
      { kind: "Invalid", field: 'clusters["c"].cluster.insecure-skip-tls-verify' },
    ],
    [
      "an exec plugin of a removed API version",
      { user: { exec: { apiVersion: "client.authentication.k8s.io/v1alpha1", command: "x" } } },
      { kind: "Unsupported", field: 'users["u"].user.exec.apiVersion' },
    ],
    [
      "an exec plugin that needs a terminal",
      { user: { exec: { apiVersion: "client.authentication.k8s.io/v1", command: "x", interactiveMode: "Always" } } },
      { kind: "Unsupported", field: 'users["u"].user.exec.interactiveMode' },
    ],
  ];
  it.each(cases)("%s", async (_name, config, expected) => {
    const file = write(path.join(directory(), "config"), kubeconfig(config));
    expect(await failed({ KUBECONFIG: file })).toMatchObject({ source: file, ...expected });
  });

  it("a kubeconfig that cannot be read, or is not YAML", async () => {
    const dir = directory();
    expect(await failed({ KUBECONFIG: dir })).toMatchObject({ kind: "Unreadable", source: dir });
    const broken = write(path.join(dir, "broken"), "clusters: [unclosed\n");
    expect(await failed({ KUBECONFIG: broken })).toMatchObject({ kind: "Invalid", source: broken });
  });

  it("no kubeconfig and no pod: NoConfiguration, saying what was looked for", async () => {
    const error = await failed({ KUBECONFIG: path.join(directory(), "absent") });
    expect(error).toMatchObject({ kind: "NoConfiguration", source: "KUBECONFIG" });
    expect(error.reason).toContain("absent");
    const home = directory();
    expect(await failed({}, { homeDirectory: home })).toMatchObject({
      kind: "NoConfiguration",
      source: path.join(home, ".kube", "config"),
    });
  });
});

describe("in a pod", () => {
  function serviceAccount(files: Readonly<Record<string, string>>): string {
    const dir = directory();
    for (const [name, content] of Object.entries(files)) write(path.join(dir, name), content);
    return dir;
  }
  const podEnv = { KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" };

  it("uses the service account's token, CA and namespace, and re-reads the rotated token", async () => {
    const dir = serviceAccount({ token: "sa-1", "ca.crt": caPem, namespace: "longvideo-system\n" });
    const time = clock();
    const credentials = await loaded(podEnv, { serviceAccountDirectory: dir, now: time.now });
    expect(credentials.server).toBe("https://10.96.0.1:443");
    expect(credentials.namespace).toBe("longvideo-system");
    expect(await authentication(credentials)).toEqual({
      headers: { Authorization: "Bearer sa-1" },
      tls: { ca: caPem, rejectUnauthorized: true },
    });
    writeFileSync(path.join(dir, "token"), "sa-2");
    time.advance(60_000);
    expect((await authentication(credentials)).headers).toEqual({ Authorization: "Bearer sa-2" });
  });

  it("brackets an IPv6 service host, and prefers a kubeconfig that exists", async () => {
    const dir = serviceAccount({ token: "sa", "ca.crt": caPem });
    const v6 = await loaded(
      { KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "443" },
      { serviceAccountDirectory: dir },
    );
    expect(v6.server).toBe("https://[fd00::1]:443");
    expect(v6.namespace).toBeUndefined();
    const file = write(path.join(directory(), "config"), kubeconfig({}));
    const fromFile = await loaded({ ...podEnv, KUBECONFIG: file }, { serviceAccountDirectory: dir });
    expect(fromFile.server).toBe("https://127.0.0.1:6443");
  });

  it("is not a pod without the service environment or the token; a missing CA is an error naming ca.crt", async () => {
    const dir = serviceAccount({ token: "sa" });
    expect(await failed({}, { serviceAccountDirectory: dir })).toMatchObject({ kind: "NoConfiguration" });
    expect(await failed(podEnv, { serviceAccountDirectory: directory() })).toMatchObject({ kind: "NoConfiguration" });
    expect(await failed(podEnv, { serviceAccountDirectory: dir })).toMatchObject({
      kind: "Unreadable",
      source: dir,
      field: "ca.crt",
    });
  });
});

describe("an exec credential plugin", () => {
  /**
   * A plugin that counts its runs in `runs`, saves what it was given in `seen.json`, and prints a token numbered
   * by the run, valid for PLUGIN_TTL_MS from PLUGIN_NOW (the test's clock) when that is set, or a client certificate.
   */
  function plugin(dir: string): string {
    return write(
      path.join(dir, "plugin.mjs"),
      `import { readFileSync, writeFileSync, existsSync } from "node:fs";
const runs = (existsSync("${dir}/runs") ? Number(readFileSync("${dir}/runs", "utf8")) : 0) + 1;
writeFileSync("${dir}/runs", String(runs));
writeFileSync("${dir}/seen.json", JSON.stringify({ args: process.argv.slice(2), info: JSON.parse(process.env.KUBERNETES_EXEC_INFO), extra: process.env.PLUGIN_EXTRA }));
const status = process.env.PLUGIN_CERT
  ? { clientCertificateData: process.env.PLUGIN_CERT, clientKeyData: "key-" + runs }
  : { token: "token-" + runs, ...(process.env.PLUGIN_NOW ? { expirationTimestamp: new Date(Number(process.env.PLUGIN_NOW) + Number(process.env.PLUGIN_TTL_MS)).toISOString() } : {}) };
process.stdout.write(JSON.stringify({ apiVersion: process.env.PLUGIN_API ?? "client.authentication.k8s.io/v1", kind: "ExecCredential", status }));
`,
    );
  }
  const runs = (dir: string) => Number(readFileSync(path.join(dir, "runs"), "utf8"));
  function execConfig(dir: string, env: Readonly<Record<string, string>>, extra: Record<string, unknown> = {}) {
    return write(
      path.join(dir, "config"),
      kubeconfig({
        cluster: { "certificate-authority-data": base64(caPem), "tls-server-name": "api" },
        user: {
          exec: {
            apiVersion: "client.authentication.k8s.io/v1",
            command: process.execPath,
            args: [path.join(dir, "plugin.mjs"), "--flag"],
            env: Object.entries(env).map(([name, value]) => ({ name, value })),
            provideClusterInfo: true,
            interactiveMode: "Never",
            ...extra,
          },
        },
      }),
    );
  }

  it("runs with its args, env and KUBERNETES_EXEC_INFO, and again only once the token expired or was refused", async () => {
    const dir = directory();
    plugin(dir);
    const time = clock(Date.parse("2026-01-01T00:00:00Z"));
    const file = execConfig(dir, {
      PLUGIN_TTL_MS: "300000",
      PLUGIN_EXTRA: "from-kubeconfig",
      PLUGIN_NOW: String(time.now()),
    });
    const credentials = await loaded({ KUBECONFIG: file, PATH: process.env.PATH ?? "" }, { now: time.now });
    expect((await authentication(credentials)).headers).toEqual({ Authorization: "Bearer token-1" });
    const seen = JSON.parse(readFileSync(path.join(dir, "seen.json"), "utf8")) as unknown;
    expect(seen).toEqual({
      args: ["--flag"],
      extra: "from-kubeconfig",
      info: {
        kind: "ExecCredential",
        apiVersion: "client.authentication.k8s.io/v1",
        spec: {
          interactive: false,
          cluster: {
            server: "https://127.0.0.1:6443",
            "tls-server-name": "api",
            "certificate-authority-data": base64(caPem),
          },
        },
      },
    });
    time.advance(299_000);
    const [a, b] = await Promise.all([authentication(credentials), authentication(credentials)]);
    expect([a.headers, b.headers, runs(dir)]).toEqual([
      { Authorization: "Bearer token-1" },
      { Authorization: "Bearer token-1" },
      1,
    ]);
    time.advance(2_000);
    // Two callers at once after expiry share one run.
    const [c, d] = await Promise.all([authentication(credentials), authentication(credentials)]);
    expect([c.headers, d.headers, runs(dir)]).toEqual([
      { Authorization: "Bearer token-2" },
      { Authorization: "Bearer token-2" },
      2,
    ]);
    credentials.rejected();
    expect((await authentication(credentials)).headers).toEqual({ Authorization: "Bearer token-3" });
  });

  it("returns a client certificate as TLS material, the same object while the certificate is the same", async () => {
    const dir = directory();
    plugin(dir);
    const credentials = await loaded({ KUBECONFIG: execConfig(dir, { PLUGIN_CERT: certPem }) });
    const first = await authentication(credentials);
    expect(first).toEqual({
      headers: {},
      tls: { ca: caPem, servername: "api", rejectUnauthorized: true, cert: certPem, key: "key-1" },
    });
    expect((await authentication(credentials)).tls).toBe(first.tls);
    credentials.rejected();
    const renewed = await authentication(credentials);
    expect(renewed.tls).not.toBe(first.tls);
    expect(renewed.tls.key).toBe("key-2");
  });

  it("resolves a relative command against the kubeconfig's directory (a shell script here)", async () => {
    const dir = directory();
    const script = write(
      path.join(dir, "bin", "token.sh"),
      `#!/bin/sh\nprintf '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"%s"}}' "$1"\n`,
    );
    chmodSync(script, 0o755);
    const file = write(
      path.join(dir, "config"),
      kubeconfig({
        user: {
          exec: { apiVersion: "client.authentication.k8s.io/v1beta1", command: "./bin/token.sh", args: ["sh-token"] },
        },
      }),
    );
    expect((await authentication(await loaded({ KUBECONFIG: file }))).headers).toEqual({
      Authorization: "Bearer sh-token",
    });
  });

  it("fails as a value naming the user's exec stanza: a missing command, a failing one, a hanging one, a wrong answer", async () => {
    const dir = directory();
    plugin(dir);
    const missing = write(
      path.join(dir, "missing"),
      kubeconfig({
        user: {
          exec: {
            apiVersion: "client.authentication.k8s.io/v1",
            command: "lv-no-such-plugin",
            installHint: "install lv-no-such-plugin",
          },
        },
      }),
    );
    const notFound = errorOf(await (await loaded({ KUBECONFIG: missing, PATH: "/nonexistent" })).authentication());
    expect(notFound).toMatchObject({ kind: "ExecFailed", source: missing, field: 'users["u"].user.exec' });
    expect(notFound?.reason).toContain("install lv-no-such-plugin");

    const failing = write(
      path.join(dir, "failing"),
      kubeconfig({
        user: {
          exec: {
            apiVersion: "client.authentication.k8s.io/v1",
            command: "/bin/sh",
            args: ["-c", "echo 'token expired, log in again' >&2; exit 3"],
          },
        },
      }),
    );
    const failed = errorOf(await (await loaded({ KUBECONFIG: failing })).authentication());
    expect(failed).toMatchObject({ kind: "ExecFailed", field: 'users["u"].user.exec' });
    expect(failed?.reason).toContain("token expired, log in again");

    const hanging = write(
      path.join(dir, "hanging"),
      kubeconfig({
        user: { exec: { apiVersion: "client.authentication.k8s.io/v1", command: "/bin/sh", args: ["-c", "sleep 10"] } },
      }),
    );
    const started = performance.now();
    const hung = errorOf(await (await loaded({ KUBECONFIG: hanging }, { execTimeoutMs: 200 })).authentication());
    expect(hung?.reason).toContain("ran too long");
    expect(performance.now() - started).toBeLessThan(5_000);

    const wrongVersion = execConfig(dir, { PLUGIN_API: "client.authentication.k8s.io/v1beta1" });
    const wrong = errorOf(await (await loaded({ KUBECONFIG: wrongVersion })).authentication());
    expect(wrong).toMatchObject({ kind: "ExecFailed" });
    expect(wrong?.reason).toContain("apiVersion");
  });
});
