import { describe, expect, it } from "vitest";
import type { KubeError, KubeResult } from "./kube-client.ts";
import { ensureLeaseNamespace, leaseNamespaceLabel } from "./lease-namespace.ts";

const error = (kind: KubeError["kind"], status: number): KubeResult<never> => ({
  ok: false,
  error: { kind, status, message: kind },
});

/** A client answering GET and POST as given, recording what was created. */
function answering(get: KubeResult<unknown>, create: KubeResult<unknown>) {
  const created: unknown[] = [];
  return {
    created,
    client: {
      get: <T>() => Promise.resolve(get as KubeResult<T>),
      create: <T>(_path: string, body: unknown) => {
        created.push(body);
        return Promise.resolve(create as KubeResult<T>);
      },
    },
  };
}

describe("ensureLeaseNamespace", () => {
  it("leaves an existing namespace alone", async () => {
    const { client, created } = answering({ ok: true, value: {} }, error("Unexpected", 500));
    expect(await ensureLeaseNamespace(client, "longvideo-system", "op")).toEqual({ ok: true, value: "exists" });
    expect(created).toEqual([]);
  });

  it("creates a missing one, labelled as the Lease's", async () => {
    const { client, created } = answering(error("NotFound", 404), { ok: true, value: {} });
    expect(await ensureLeaseNamespace(client, "lv-lease", "op")).toEqual({ ok: true, value: "created" });
    expect(created).toEqual([
      {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: "lv-lease", labels: { [leaseNamespaceLabel]: "true" } },
      },
    ]);
  });

  it("takes a namespace made by someone else meanwhile as existing", async () => {
    const { client } = answering(error("NotFound", 404), error("AlreadyExists", 409));
    expect(await ensureLeaseNamespace(client, "lv-lease", "op")).toEqual({ ok: true, value: "exists" });
  });

  it("reports a refusal to create a namespace it found missing", async () => {
    const { client } = answering(error("NotFound", 404), error("Forbidden", 403));
    const result = await ensureLeaseNamespace(client, "lv-lease", "op");
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error.kind).toBe("Forbidden");
  });

  it("goes on unverified when it may neither read nor create namespaces (a namespace-scoped account)", async () => {
    const { client } = answering(error("Forbidden", 403), error("Forbidden", 403));
    expect(await ensureLeaseNamespace(client, "films-a", "op")).toEqual({ ok: true, value: "unverified" });
  });

  it("reports any other refusal to create it", async () => {
    const { client } = answering(error("Forbidden", 403), error("Invalid", 422));
    const result = await ensureLeaseNamespace(client, "lv-lease", "op");
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error.kind).toBe("Invalid");
  });
});
