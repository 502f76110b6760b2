/**
 * How the operator reaches its API server and proves who it is: the server's URL, the TLS material of the
 * connection, and the headers each request carries. {@link loadClusterCredentials} (load-cluster-credentials.ts)
 * makes them from a kubeconfig or a pod's service account; the operator's KubeClient uses them.
 */
import type { CredentialsResult } from "./credentials-error.ts";
import type { ExecCredentialPlugin } from "./exec-credential-plugin.ts";
import type { TokenFile } from "./token-file.ts";

/** TLS settings for connections to the API server, in Node's `tls.connect` terms; PEM text. */
export interface ClusterTls {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  /** False only for a cluster with `insecure-skip-tls-verify`. */
  readonly rejectUnauthorized: boolean;
  readonly servername?: string;
}

/**
 * What one request needs. `tls` is the same object for as long as the TLS material is unchanged, so a client can
 * keep one connection pool per object: only an exec plugin that returns a new client certificate changes it.
 */
export interface Authentication {
  readonly headers: Readonly<Record<string, string>>;
  readonly tls: ClusterTls;
}

/** Where each request's identity comes from. */
export type Authenticator =
  | { readonly kind: "none" }
  /** A static `Authorization` header value: `Bearer <token>` or `Basic <base64>`. */
  | { readonly kind: "header"; readonly authorization: string }
  | { readonly kind: "token-file"; readonly file: TokenFile }
  | { readonly kind: "exec"; readonly plugin: ExecCredentialPlugin };

export interface ClusterCredentialsInit {
  /** `https://host:port`, optionally with a path prefix; a trailing slash is dropped. */
  readonly server: string;
  /** Where the credentials came from, for logs: kubeconfig files and context, or the service-account directory. */
  readonly source: string;
  readonly tls: ClusterTls;
  readonly authenticator: Authenticator;
  /** The context's namespace, or the pod's. */
  readonly namespace?: string;
}

/** An API server and the identity the operator uses there. */
export class ClusterCredentials {
  readonly server: string;
  readonly source: string;
  readonly namespace: string | undefined;
  readonly #tls: ClusterTls;
  readonly #authenticator: Authenticator;
  /** The TLS settings with the exec plugin's last client certificate, kept while the plugin returns the same one. */
  #execTls: ClusterTls | undefined;

  constructor(init: ClusterCredentialsInit) {
    this.server = init.server.replace(/\/+$/, "");
    this.source = init.source;
    this.namespace = init.namespace;
    this.#tls = init.tls;
    this.#authenticator = init.authenticator;
  }

  /** Headers and TLS for the next request: a token file re-read when due, an exec plugin re-run when expired. */
  async authentication(): Promise<CredentialsResult<Authentication>> {
    const authenticator = this.#authenticator;
    switch (authenticator.kind) {
      case "none":
        return { ok: true, value: { headers: {}, tls: this.#tls } };
      case "header":
        return { ok: true, value: { headers: { Authorization: authenticator.authorization }, tls: this.#tls } };
      case "token-file":
        return {
          ok: true,
          value: { headers: { Authorization: `Bearer ${await authenticator.file.token()}` }, tls: this.#tls },
        };
      case "exec": {
        const credential = await authenticator.plugin.credential();
        if (!credential.ok) return credential;
        const { token, clientCertificateData: cert, clientKeyData: key } = credential.value;
        return {
          ok: true,
          value: {
            headers: token === undefined ? {} : { Authorization: `Bearer ${token}` },
            tls: cert === undefined || key === undefined ? this.#tls : this.#tlsWith(cert, key),
          },
        };
      }
    }
  }

  /**
   * The server answered 401: whatever may have been refreshed behind the operator's back (a rotated token file, an
   * exec credential revoked early) is fetched again by the next {@link authentication}.
   */
  rejected(): void {
    if (this.#authenticator.kind === "token-file") this.#authenticator.file.expire();
    if (this.#authenticator.kind === "exec") this.#authenticator.plugin.expire();
  }

  #tlsWith(cert: string, key: string): ClusterTls {
    if (this.#execTls?.cert !== cert || this.#execTls.key !== key) this.#execTls = { ...this.#tls, cert, key };
    return this.#execTls;
  }
}
