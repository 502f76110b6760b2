/**
 * The client against a server that accepts connections and never answers, as an API server behind a frozen network
 * path does: an aborted read ends at once, and closing drops what still hangs after its grace period.
 */
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClusterCredentials } from "./cluster-credentials.ts";
import { KubeClient } from "./kube-client.ts";

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
