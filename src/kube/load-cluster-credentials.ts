/**
 * The operator's kubeconfig loader, so that its process never loads @kubernetes/client-node (whose KubeConfig
 * pulls in every generated API class: 64 MiB of RSS, see ADR 0028). It follows client-go's default loading rules:
 *
 * 1. `$KUBECONFIG`, a list of files separated by the platform's path delimiter, merged as client-go merges them:
 *    the first file to name a cluster, user or context, or to set `current-context`, wins; files that do not
 *    exist are skipped;
 * 2. else `~/.kube/config`;
 * 3. else, when none of those files exists, the pod's service account: `KUBERNETES_SERVICE_HOST`/`_PORT`, and
 *    `token`, `ca.crt` and `namespace` in /var/run/secrets/kubernetes.io/serviceaccount (its token re-read every
 *    minute, as bound tokens rotate).
 *
 * Of a kubeconfig it reads the current context; the cluster's server, certificate-authority(-data),
 * insecure-skip-tls-verify and tls-server-name; the user's client-certificate(-data) and client-key(-data), token,
 * tokenFile, username/password and `exec` plugins (client.authentication.k8s.io v1 and v1beta1). Relative paths
 * resolve against the directory of the file that holds them; inline data wins over a file. Not supported, each an
 * `Unsupported` error naming the field rather than a silent difference: `auth-provider` (the legacy gcp, azure
 * and oidc providers; their replacements are exec plugins), impersonation (`as`, `as-uid`, `as-groups`,
 * `as-user-extra`), `proxy-url`, and exec plugins that need a terminal (`interactiveMode: Always`).
 */
import { readFile, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { ClusterCredentials } from "./cluster-credentials.ts";
import type { Authenticator, ClusterTls } from "./cluster-credentials.ts";
import { credentialsFailure } from "./credentials-error.ts";
import type { CredentialsResult } from "./credentials-error.ts";
import { ExecCredentialPlugin, execApiVersions } from "./exec-credential-plugin.ts";
import type { ExecApiVersion, ExecClusterInfo } from "./exec-credential-plugin.ts";
import { TokenFile } from "./token-file.ts";

export const serviceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount";

export interface CredentialsLoadOptions {
  /** The environment to read `KUBECONFIG`, `KUBERNETES_SERVICE_*` from, and exec plugins inherit. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Where `~/.kube/config` lives; `os.homedir()` by default. */
  readonly homeDirectory?: string;
  /** The mounted service account; {@link serviceAccountDirectory} by default. */
  readonly serviceAccountDirectory?: string;
  /** How often token files are re-read; a minute by default. */
  readonly tokenRereadMs?: number;
  readonly now?: () => number;
  readonly execTimeoutMs?: number;
}

const text = z.string().optional();
const clusterSchema = z.object({
  server: z.string().min(1),
  "certificate-authority": text,
  "certificate-authority-data": text,
  "insecure-skip-tls-verify": z.boolean().optional(),
  "tls-server-name": text,
  "proxy-url": text,
});
const execSchema = z.object({
  apiVersion: z.string(),
  command: z.string().min(1),
  args: z.array(z.string()).nullish(),
  env: z.array(z.object({ name: z.string().min(1), value: z.string() })).nullish(),
  provideClusterInfo: z.boolean().optional(),
  interactiveMode: z.enum(["Never", "IfAvailable", "Always"]).optional(),
  installHint: text,
});
const userSchema = z.object({
  "client-certificate": text,
  "client-certificate-data": text,
  "client-key": text,
  "client-key-data": text,
  token: text,
  tokenFile: text,
  username: text,
  password: text,
  exec: execSchema.nullish(),
  "auth-provider": z.object({ name: z.string() }).nullish(),
  as: text,
  "as-uid": text,
  "as-groups": z.array(z.string()).nullish(),
  "as-user-extra": z.record(z.string(), z.unknown()).nullish(),
});
const contextSchema = z.object({ cluster: z.string().min(1), user: text, namespace: text });
const named = { name: z.string().min(1) };
const kubeconfigSchema = z.object({
  "current-context": text,
  clusters: z.array(z.object({ ...named, cluster: z.unknown() })).nullish(),
  users: z.array(z.object({ ...named, user: z.unknown() })).nullish(),
  contexts: z.array(z.object({ ...named, context: z.unknown() })).nullish(),
});

/** A cluster, user or context entry and the file it came from. */
interface Entry {
  readonly body: unknown;
  readonly file: string;
}

/** Kubeconfig files merged the client-go way. */
interface MergedKubeconfig {
  readonly files: readonly string[];
  readonly currentContext?: { readonly name: string; readonly file: string };
  readonly clusters: Map<string, Entry>;
  readonly users: Map<string, Entry>;
  readonly contexts: Map<string, Entry>;
}

const quoted = (name: string) => JSON.stringify(name);

/** `prefix.a.b[0]` for a zod issue's path. */
function fieldOf(prefix: string, issuePath: readonly PropertyKey[]): string {
  return issuePath.reduce<string>(
    (field, key) => (typeof key === "number" ? `${field}[${String(key)}]` : `${field}.${String(key)}`),
    prefix,
  );
}

function parsed<T>(schema: z.ZodType<T>, value: unknown, source: string, prefix: string): CredentialsResult<T> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return { ok: true, value: result.data };
  const issue = result.error.issues[0];
  return credentialsFailure("Invalid", source, fieldOf(prefix, issue?.path ?? []), issue?.message ?? "invalid");
}

function isMissing(cause: unknown): boolean {
  return typeof cause === "object" && cause !== null && "code" in cause && cause.code === "ENOENT";
}

/** A kubeconfig file's document; undefined when the file does not exist. */
async function kubeconfigDocument(file: string): Promise<CredentialsResult<unknown>> {
  let content: string;
  try {
    content = await readFile(file, "utf8");
  } catch (cause) {
    if (isMissing(cause)) return { ok: true, value: undefined };
    return credentialsFailure("Unreadable", file, undefined, `cannot read the kubeconfig: ${String(cause)}`);
  }
  try {
    if (content.trimStart().startsWith("{")) return { ok: true, value: JSON.parse(content) as unknown };
    // Loaded here only: in a pod the operator reads no YAML, and the parser costs 12 MiB of RSS.
    const { parse } = await import("yaml");
    return { ok: true, value: (parse(content) as unknown) ?? {} };
  } catch (cause) {
    return credentialsFailure("Invalid", file, undefined, `not a YAML or JSON kubeconfig: ${String(cause)}`);
  }
}

/** Adds the entries `into` does not have yet: with several files, the first to name an entry wins. */
function addNew<E extends { readonly name: string }>(
  into: Map<string, Entry>,
  list: readonly E[] | null | undefined,
  body: (entry: E) => unknown,
  file: string,
): void {
  for (const entry of list ?? []) if (!into.has(entry.name)) into.set(entry.name, { body: body(entry), file });
}

/** Reads and merges `files` in order; files that do not exist are skipped, as client-go skips them. */
async function mergedKubeconfig(files: readonly string[]): Promise<CredentialsResult<MergedKubeconfig>> {
  const merged: { -readonly [K in keyof MergedKubeconfig]: MergedKubeconfig[K] } = {
    files: [],
    clusters: new Map(),
    users: new Map(),
    contexts: new Map(),
  };
  const read: string[] = [];
  for (const file of files) {
    const document = await kubeconfigDocument(file);
    if (!document.ok) return document;
    if (document.value === undefined) continue;
    read.push(file);
    const config = parsed(kubeconfigSchema, document.value, file, "");
    if (!config.ok) return config;
    const current = config.value["current-context"];
    if (merged.currentContext === undefined && current !== undefined && current !== "") {
      merged.currentContext = { name: current, file };
    }
    addNew(merged.clusters, config.value.clusters, (entry) => entry.cluster, file);
    addNew(merged.users, config.value.users, (entry) => entry.user, file);
    addNew(merged.contexts, config.value.contexts, (entry) => entry.context, file);
  }
  return { ok: true, value: { ...merged, files: read } };
}

/** PEM text from inline base64 data, else from a file relative to the kubeconfig's directory. */
async function pem(
  data: string | undefined,
  file: string | undefined,
  source: string,
  prefix: string,
  names: { readonly data: string; readonly file: string },
): Promise<CredentialsResult<string | undefined>> {
  if (data !== undefined && data !== "") {
    const decoded = Buffer.from(data, "base64").toString("utf8");
    if (!decoded.includes("-----BEGIN ")) {
      return credentialsFailure("Invalid", source, `${prefix}.${names.data}`, "not base64 of PEM data");
    }
    return { ok: true, value: decoded };
  }
  if (file === undefined || file === "") return { ok: true, value: undefined };
  const resolved = path.resolve(path.dirname(source), file);
  try {
    return { ok: true, value: await readFile(resolved, "utf8") };
  } catch (cause) {
    return credentialsFailure(
      "Unreadable",
      source,
      `${prefix}.${names.file}`,
      `cannot read ${resolved}: ${String(cause)}`,
    );
  }
}

type Cluster = z.infer<typeof clusterSchema>;
type User = z.infer<typeof userSchema>;

async function clusterTls(cluster: Cluster, source: string, prefix: string): Promise<CredentialsResult<ClusterTls>> {
  if (cluster["proxy-url"] !== undefined && cluster["proxy-url"] !== "") {
    return credentialsFailure("Unsupported", source, `${prefix}.proxy-url`, "proxies are not supported");
  }
  try {
    const url = new URL(cluster.server);
    if (url.protocol !== "https:" && url.protocol !== "http:") throw new Error(`scheme ${url.protocol}`);
  } catch (cause) {
    return credentialsFailure("Invalid", source, `${prefix}.server`, `not an http(s) URL: ${String(cause)}`);
  }
  const insecure = cluster["insecure-skip-tls-verify"] === true;
  const ca = insecure
    ? ({ ok: true, value: undefined } as const)
    : await pem(cluster["certificate-authority-data"], cluster["certificate-authority"], source, prefix, {
        data: "certificate-authority-data",
        file: "certificate-authority",
      });
  if (!ca.ok) return ca;
  const servername = cluster["tls-server-name"];
  return {
    ok: true,
    value: {
      rejectUnauthorized: !insecure,
      ...(ca.value === undefined ? {} : { ca: ca.value }),
      ...(servername === undefined || servername === "" ? {} : { servername }),
    },
  };
}

/** The fields this loader refuses rather than ignores: ignoring them would act as someone else, or elsewhere. */
function unsupportedUserField(user: User, source: string, prefix: string): CredentialsResult<undefined> {
  const provider = user["auth-provider"];
  if (provider) {
    return credentialsFailure(
      "Unsupported",
      source,
      `${prefix}.auth-provider`,
      `the legacy auth-provider ${quoted(provider.name)} is not supported: use its exec plugin ` +
        "(gke-gcloud-auth-plugin, kubelogin) or a token",
    );
  }
  for (const key of ["as", "as-uid", "as-groups", "as-user-extra"] as const) {
    const value = user[key];
    if (value !== undefined && value !== null && value !== "") {
      return credentialsFailure("Unsupported", source, `${prefix}.${key}`, "impersonation is not supported");
    }
  }
  const methods = [
    user.token || user.tokenFile ? "token" : undefined,
    user.username || user.password ? "username/password" : undefined,
    user.exec ? "exec" : undefined,
  ].filter((method) => method !== undefined);
  if (methods.length > 1) {
    return credentialsFailure(
      "Invalid",
      source,
      prefix,
      `more than one authentication method (${methods.join(", ")}); only one is allowed`,
    );
  }
  return { ok: true, value: undefined };
}

interface UserContext {
  readonly source: string;
  readonly prefix: string;
  readonly cluster: ExecClusterInfo;
  readonly options: CredentialsLoadOptions;
}

async function userAuthenticator(user: User, at: UserContext): Promise<CredentialsResult<Authenticator>> {
  const { source, prefix, options } = at;
  const directory = path.dirname(source);
  if (user.tokenFile) {
    const file = await TokenFile.read(path.resolve(directory, user.tokenFile), source, `${prefix}.tokenFile`, {
      ...(options.tokenRereadMs === undefined ? {} : { rereadMs: options.tokenRereadMs }),
      ...(options.now === undefined ? {} : { now: options.now }),
    });
    return file.ok ? { ok: true, value: { kind: "token-file", file: file.value } } : file;
  }
  if (user.token) return { ok: true, value: { kind: "header", authorization: `Bearer ${user.token}` } };
  if (user.username !== undefined) {
    const basic = Buffer.from(`${user.username}:${user.password ?? ""}`).toString("base64");
    return { ok: true, value: { kind: "header", authorization: `Basic ${basic}` } };
  }
  if (user.exec) return execAuthenticator(user.exec, at);
  return { ok: true, value: { kind: "none" } };
}

function execAuthenticator(
  exec: z.infer<typeof execSchema>,
  { source, prefix, cluster, options }: UserContext,
): CredentialsResult<Authenticator> {
  const field = `${prefix}.exec`;
  if (!(execApiVersions as readonly string[]).includes(exec.apiVersion)) {
    return credentialsFailure(
      "Unsupported",
      source,
      `${field}.apiVersion`,
      `${exec.apiVersion} is not one of ${execApiVersions.join(", ")}`,
    );
  }
  if (exec.interactiveMode === "Always") {
    return credentialsFailure("Unsupported", source, `${field}.interactiveMode`, "the operator has no terminal");
  }
  // client-go resolves a command with a path separator against the kubeconfig's directory, and looks a bare name
  // up on PATH.
  const command = exec.command.includes("/") ? path.resolve(path.dirname(source), exec.command) : exec.command;
  const plugin = new ExecCredentialPlugin(
    {
      apiVersion: exec.apiVersion as ExecApiVersion,
      command,
      args: exec.args ?? [],
      env: exec.env ?? [],
      provideClusterInfo: exec.provideClusterInfo === true,
      ...(exec.installHint === undefined ? {} : { installHint: exec.installHint }),
    },
    source,
    field,
    {
      env: options.env,
      cluster,
      ...(options.now === undefined ? {} : { now: options.now }),
      ...(options.execTimeoutMs === undefined ? {} : { timeoutMs: options.execTimeoutMs }),
    },
  );
  return { ok: true, value: { kind: "exec", plugin } };
}

/** The client certificate and key of a user, from data or files; both or neither. */
async function clientCertificate(
  user: User,
  source: string,
  prefix: string,
): Promise<CredentialsResult<{ cert: string; key: string } | undefined>> {
  const cert = await pem(user["client-certificate-data"], user["client-certificate"], source, prefix, {
    data: "client-certificate-data",
    file: "client-certificate",
  });
  if (!cert.ok) return cert;
  const key = await pem(user["client-key-data"], user["client-key"], source, prefix, {
    data: "client-key-data",
    file: "client-key",
  });
  if (!key.ok) return key;
  if (cert.value === undefined && key.value === undefined) return { ok: true, value: undefined };
  if (cert.value === undefined || key.value === undefined) {
    const missing = cert.value === undefined ? "client-certificate" : "client-key";
    return credentialsFailure(
      "Invalid",
      source,
      `${prefix}.${missing}`,
      "a client certificate needs its key, and a key its certificate",
    );
  }
  return { ok: true, value: { cert: cert.value, key: key.value } };
}

/** The current context's cluster and user, resolved and checked. */
async function kubeconfigCredentials(
  config: MergedKubeconfig,
  options: CredentialsLoadOptions,
): Promise<CredentialsResult<ClusterCredentials>> {
  const files = config.files.join(path.delimiter);
  const current = config.currentContext;
  if (current === undefined) return credentialsFailure("Invalid", files, "current-context", "not set");
  const contextEntry = config.contexts.get(current.name);
  if (!contextEntry) {
    return credentialsFailure("Invalid", current.file, "current-context", `no context named ${quoted(current.name)}`);
  }
  const contextPrefix = `contexts[${quoted(current.name)}].context`;
  const context = parsed(contextSchema, contextEntry.body, contextEntry.file, contextPrefix);
  if (!context.ok) return context;
  const clusterEntry = config.clusters.get(context.value.cluster);
  if (!clusterEntry) {
    return credentialsFailure(
      "Invalid",
      contextEntry.file,
      `${contextPrefix}.cluster`,
      `no cluster named ${quoted(context.value.cluster)}`,
    );
  }
  const clusterPrefix = `clusters[${quoted(context.value.cluster)}].cluster`;
  const cluster = parsed(clusterSchema, clusterEntry.body, clusterEntry.file, clusterPrefix);
  if (!cluster.ok) return cluster;
  const tls = await clusterTls(cluster.value, clusterEntry.file, clusterPrefix);
  if (!tls.ok) return tls;

  const userName = context.value.user ?? "";
  const userEntry = userName === "" ? { body: {}, file: contextEntry.file } : config.users.get(userName);
  if (!userEntry) {
    return credentialsFailure(
      "Invalid",
      contextEntry.file,
      `${contextPrefix}.user`,
      `no user named ${quoted(userName)}`,
    );
  }
  const userPrefix = `users[${quoted(userName)}].user`;
  const user = parsed(userSchema, userEntry.body, userEntry.file, userPrefix);
  if (!user.ok) return user;
  const refused = unsupportedUserField(user.value, userEntry.file, userPrefix);
  if (!refused.ok) return refused;
  const certificate = await clientCertificate(user.value, userEntry.file, userPrefix);
  if (!certificate.ok) return certificate;
  const caData = cluster.value["certificate-authority-data"];
  const authenticator = await userAuthenticator(user.value, {
    source: userEntry.file,
    prefix: userPrefix,
    options,
    cluster: {
      server: cluster.value.server,
      ...(tls.value.servername === undefined ? {} : { "tls-server-name": tls.value.servername }),
      ...(tls.value.rejectUnauthorized ? {} : { "insecure-skip-tls-verify": true }),
      ...(tls.value.ca === undefined
        ? {}
        : { "certificate-authority-data": caData ?? Buffer.from(tls.value.ca).toString("base64") }),
    },
  });
  if (!authenticator.ok) return authenticator;
  const namespace = context.value.namespace;
  return {
    ok: true,
    value: new ClusterCredentials({
      server: cluster.value.server,
      source: `${files} (context ${quoted(current.name)})`,
      tls: { ...tls.value, ...certificate.value },
      authenticator: authenticator.value,
      ...(namespace === undefined || namespace === "" ? {} : { namespace }),
    }),
  };
}

/** The pod's service account, when the pod environment says this is one and its token is mounted. */
async function inClusterCredentials(
  directory: string,
  options: CredentialsLoadOptions,
): Promise<CredentialsResult<ClusterCredentials> | undefined> {
  const host = options.env.KUBERNETES_SERVICE_HOST;
  const port = options.env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) return undefined;
  const tokenPath = path.join(directory, "token");
  try {
    await stat(tokenPath);
  } catch {
    return undefined;
  }
  const token = await TokenFile.read(tokenPath, directory, "token", {
    ...(options.tokenRereadMs === undefined ? {} : { rereadMs: options.tokenRereadMs }),
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  if (!token.ok) return token;
  let ca: string;
  try {
    ca = await readFile(path.join(directory, "ca.crt"), "utf8");
  } catch (cause) {
    return credentialsFailure("Unreadable", directory, "ca.crt", `cannot read the cluster's CA: ${String(cause)}`);
  }
  const namespace = await readFile(path.join(directory, "namespace"), "utf8").then(
    (text) => text.trim(),
    () => "",
  );
  return {
    ok: true,
    value: new ClusterCredentials({
      server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
      source: `the pod's service account (${directory})`,
      tls: { ca, rejectUnauthorized: true },
      authenticator: { kind: "token-file", file: token.value },
      ...(namespace === "" ? {} : { namespace }),
    }),
  };
}

/**
 * Finds and loads the operator's cluster credentials by client-go's default loading rules (see the module's
 * comment). Every failure is a value naming the file or directory, the field and the reason.
 */
export async function loadClusterCredentials(
  options: CredentialsLoadOptions,
): Promise<CredentialsResult<ClusterCredentials>> {
  const listed = (options.env.KUBECONFIG ?? "").split(path.delimiter).filter((file) => file !== "");
  const files =
    listed.length > 0 ? [...new Set(listed)] : [path.join(options.homeDirectory ?? os.homedir(), ".kube", "config")];
  const merged = await mergedKubeconfig(files);
  if (!merged.ok) return merged;
  if (merged.value.files.length > 0) return kubeconfigCredentials(merged.value, options);
  const directory = options.serviceAccountDirectory ?? serviceAccountDirectory;
  const inCluster = await inClusterCredentials(directory, options);
  if (inCluster) return inCluster;
  return credentialsFailure(
    "NoConfiguration",
    listed.length > 0 ? "KUBECONFIG" : (files[0] ?? ""),
    undefined,
    `no kubeconfig (${files.join(", ")} not found) and not in a pod ` +
      `(KUBERNETES_SERVICE_HOST/PORT unset or no token in ${directory})`,
  );
}
