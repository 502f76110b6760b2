/**
 * A bearer token kept in a file that something else rewrites: the kubelet rotates a pod's bound service-account
 * token (valid for an hour or so), and kubeconfig `tokenFile`s are often written by a sidecar.
 */
import { readFile } from "node:fs/promises";
import { credentialsFailure } from "./credentials-error.ts";
import type { CredentialsResult } from "./credentials-error.ts";

/** client-go re-reads a token file once a minute; a rotated token is valid well before the old one expires. */
export const tokenRereadMs = 60_000;

export interface TokenFileOptions {
  readonly rereadMs?: number;
  /** Milliseconds, monotonic or not; only differences are used. */
  readonly now?: () => number;
}

/** A token file read at load time and again once its last reading is older than the reread period. */
export class TokenFile {
  readonly path: string;
  #token: string;
  #readAt: number;
  readonly #rereadMs: number;
  readonly #now: () => number;
  #rereading: Promise<string> | undefined;

  private constructor(path: string, token: string, options: TokenFileOptions) {
    this.path = path;
    this.#token = token;
    this.#now = options.now ?? Date.now;
    this.#rereadMs = options.rereadMs ?? tokenRereadMs;
    this.#readAt = this.#now();
  }

  /** Reads the file once; an unreadable or empty file is an error naming `source` and `field`. */
  static async read(
    path: string,
    source: string,
    field: string | undefined,
    options: TokenFileOptions = {},
  ): Promise<CredentialsResult<TokenFile>> {
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (cause) {
      return credentialsFailure("Unreadable", source, field, `cannot read the token file ${path}: ${String(cause)}`);
    }
    const token = text.trim();
    if (token === "") return credentialsFailure("Invalid", source, field, `the token file ${path} is empty`);
    return { ok: true, value: new TokenFile(path, token, options) };
  }

  /**
   * The token, re-read when the last reading is older than the period. A failed re-read keeps the last token: the
   * kubelet replaces the file atomically, so a failure is rare and the old token is usually still valid.
   */
  async token(): Promise<string> {
    if (this.#now() - this.#readAt < this.#rereadMs) return this.#token;
    this.#rereading ??= this.#reread().finally(() => {
      this.#rereading = undefined;
    });
    return this.#rereading;
  }

  /** The server refused the token: the next {@link token} call reads the file again. */
  expire(): void {
    this.#readAt = -Infinity;
  }

  async #reread(): Promise<string> {
    try {
      const token = (await readFile(this.path, "utf8")).trim();
      if (token !== "") this.#token = token;
    } catch {
      // Keep the last token (see token()).
    }
    this.#readAt = this.#now();
    return this.#token;
  }
}
