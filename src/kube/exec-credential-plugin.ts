/**
 * A kubeconfig `exec` credential plugin (client.authentication.k8s.io v1 and v1beta1): a command that prints an
 * ExecCredential whose status holds a bearer token or a client certificate and key, valid until its
 * `expirationTimestamp`. The plugin runs without a terminal (the operator never has one).
 */
import { execFile } from "node:child_process";
import { credentialsFailure } from "./credentials-error.ts";
import type { CredentialsResult } from "./credentials-error.ts";

export const execApiVersions = ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"] as const;
export type ExecApiVersion = (typeof execApiVersions)[number];

/** A user's `exec` stanza, its command already resolved against the kubeconfig's directory. */
export interface ExecConfig {
  readonly apiVersion: ExecApiVersion;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: readonly { readonly name: string; readonly value: string }[];
  readonly provideClusterInfo: boolean;
  readonly installHint?: string;
}

/** What `provideClusterInfo` hands the plugin in KUBERNETES_EXEC_INFO's `spec.cluster`, wire names. */
export interface ExecClusterInfo {
  readonly server: string;
  readonly "tls-server-name"?: string;
  readonly "insecure-skip-tls-verify"?: boolean;
  /** Base64, as in the kubeconfig. */
  readonly "certificate-authority-data"?: string;
}

/** A plugin's answer: a token, or a client certificate and key (PEM), or both. */
export interface ExecCredential {
  readonly token?: string;
  readonly clientCertificateData?: string;
  readonly clientKeyData?: string;
  /** Epoch milliseconds; absent means valid until the server refuses it. */
  readonly expiresAt?: number;
}

export interface ExecPluginOptions {
  /** The environment the plugin inherits before its own `env` entries. */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cluster: ExecClusterInfo;
  readonly now?: () => number;
  /** A plugin that hangs must not hang every request: client-go has no limit, kubectl users press Ctrl-C. */
  readonly timeoutMs?: number;
}

interface RunError extends Error {
  readonly code?: unknown;
  readonly killed?: boolean;
  readonly signal?: NodeJS.Signals | null;
}

interface Outcome {
  readonly stdout: string;
  readonly stderr: string;
  readonly error: RunError | null;
}

/** What went wrong with a run, in a few words: execFile's own message repeats the whole command line. */
function failure(error: RunError): string {
  if (error.code === "ENOENT") return "not found";
  if (error.killed === true) return `killed (${String(error.signal)}): it ran too long`;
  if (typeof error.code === "number") return `exited with code ${String(error.code)}`;
  if (error.signal) return `ended by ${error.signal}`;
  return `failed: ${error.message}`;
}

function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(command, args, { env, timeout: timeoutMs, maxBuffer: 4 * 2 ** 20 }, (error, stdout, stderr) => {
      resolve({ stdout, stderr, error });
    });
  });
}

/** Runs the plugin when its last credential has expired (or never ran), one run at a time. */
export class ExecCredentialPlugin {
  readonly #config: ExecConfig;
  readonly #source: string;
  readonly #field: string;
  readonly #options: ExecPluginOptions;
  readonly #now: () => number;
  #cached: ExecCredential | undefined;
  #running: Promise<CredentialsResult<ExecCredential>> | undefined;

  /** `source` and `field` name the kubeconfig and the user's `exec` stanza in errors. */
  constructor(config: ExecConfig, source: string, field: string, options: ExecPluginOptions) {
    this.#config = config;
    this.#source = source;
    this.#field = field;
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** The cached credential while it is valid, else a fresh one from the plugin. */
  credential(): Promise<CredentialsResult<ExecCredential>> {
    const cached = this.#cached;
    if (cached && (cached.expiresAt === undefined || this.#now() < cached.expiresAt)) {
      return Promise.resolve({ ok: true, value: cached });
    }
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** The server refused the credential (401): the next {@link credential} call runs the plugin again. */
  expire(): void {
    this.#cached = undefined;
  }

  #failure(reason: string): CredentialsResult<ExecCredential> {
    return credentialsFailure("ExecFailed", this.#source, this.#field, reason);
  }

  /** KUBERNETES_EXEC_INFO: the API version, never interactive, and the cluster when the stanza asks for it. */
  #execInfo(): string {
    const spec = { interactive: false, ...(this.#config.provideClusterInfo ? { cluster: this.#options.cluster } : {}) };
    return JSON.stringify({ kind: "ExecCredential", apiVersion: this.#config.apiVersion, spec });
  }

  async #run(): Promise<CredentialsResult<ExecCredential>> {
    const { command, args } = this.#config;
    const env: NodeJS.ProcessEnv = { ...this.#options.env };
    for (const { name, value } of this.#config.env) env[name] = value;
    env.KUBERNETES_EXEC_INFO = this.#execInfo();
    const outcome = await run(command, args, env, this.#options.timeoutMs ?? 60_000);
    if (outcome.error) {
      const hint = this.#config.installHint === undefined ? "" : `; ${this.#config.installHint.trim()}`;
      const stderr = outcome.stderr.trim().slice(-500);
      return this.#failure(`${command} ${failure(outcome.error)}${stderr === "" ? "" : `: ${stderr}`}${hint}`);
    }
    const parsed = this.#parse(outcome.stdout);
    if (parsed.ok) this.#cached = parsed.value;
    return parsed;
  }

  /** Checks the plugin's output the way client-go does: same API version, a status, a token or a cert/key pair. */
  #parse(stdout: string): CredentialsResult<ExecCredential> {
    let document: unknown;
    try {
      document = JSON.parse(stdout);
    } catch {
      return this.#failure(`${this.#config.command} printed no JSON ExecCredential`);
    }
    const output = (typeof document === "object" && document !== null ? document : {}) as {
      apiVersion?: unknown;
      status?: Record<string, unknown>;
    };
    if (output.apiVersion !== this.#config.apiVersion) {
      return this.#failure(
        `the plugin answered in apiVersion ${String(output.apiVersion)}, not the configured ${this.#config.apiVersion}`,
      );
    }
    const status = output.status;
    if (typeof status !== "object") return this.#failure("the plugin's ExecCredential has no status");
    const text = (key: string) => {
      const value = status[key];
      return typeof value === "string" && value !== "" ? value : undefined;
    };
    const token = text("token");
    const cert = text("clientCertificateData");
    const key = text("clientKeyData");
    if ((cert === undefined) !== (key === undefined)) {
      return this.#failure("the plugin returned a client certificate or key, not both");
    }
    if (token === undefined && cert === undefined) {
      return this.#failure("the plugin returned neither a token nor a client certificate and key");
    }
    const expiry = text("expirationTimestamp");
    const expiresAt = expiry === undefined ? undefined : Date.parse(expiry);
    if (expiresAt !== undefined && Number.isNaN(expiresAt)) {
      return this.#failure(`the plugin's expirationTimestamp ${String(expiry)} is not a timestamp`);
    }
    return {
      ok: true,
      value: {
        ...(token === undefined ? {} : { token }),
        ...(cert === undefined || key === undefined ? {} : { clientCertificateData: cert, clientKeyData: key }),
        ...(expiresAt === undefined ? {} : { expiresAt }),
      },
    };
  }
}
