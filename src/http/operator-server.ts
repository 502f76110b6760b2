/**
 * The operator's HTTP endpoints: `/healthz` (the process is alive and its loops are turning), `/readyz` (caches
 * synced and, when leading, acting) and `/metrics` (Prometheus text format).
 */
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { Registry } from "prom-client";

/** Answers whether the operator is healthy or ready, with a reason when it is not. */
export type Probe = () => { readonly ok: true } | { readonly ok: false; readonly reason: string };

export interface OperatorServerOptions {
  readonly host: string;
  readonly port: number;
  readonly registry: Registry;
  readonly healthy: Probe;
  readonly ready: Probe;
}

/** Starts listening; resolves with the server once the port is bound. */
export async function startOperatorServer(options: OperatorServerOptions): Promise<Server> {
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? "/", "http://localhost").pathname;
    const probe =
      path === "/healthz" || path === "/livez" ? options.healthy : path === "/readyz" ? options.ready : undefined;
    if (probe) {
      const result = probe();
      response.writeHead(result.ok ? 200 : 503, { "Content-Type": "text/plain" });
      response.end(result.ok ? "ok\n" : `${result.reason}\n`);
      return;
    }
    if (path === "/metrics") {
      options.registry.metrics().then(
        (text) => {
          response.writeHead(200, { "Content-Type": options.registry.contentType });
          response.end(text);
        },
        (error: unknown) => {
          response.writeHead(500, { "Content-Type": "text/plain" });
          response.end(`${String(error)}\n`);
        },
      );
      return;
    }
    response.writeHead(404, { "Content-Type": "text/plain" });
    response.end("not found\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return server;
}
