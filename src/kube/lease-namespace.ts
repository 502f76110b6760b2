/**
 * The namespace of the leader-election Lease, made when an operator runs out of cluster on a cluster where nothing
 * else made it (a fresh `make cluster-up`): without it every lease request fails with "namespaces not found" and the
 * operator never acts (docs/adr/0018-cli-relative-eta-and-local-leases.md).
 */
import type { KubeClient, KubeResult } from "./kube-client.ts";

/**
 * Whether the namespace was there already, this call made it, or neither can be told: credentials that may
 * neither read nor create namespaces (a namespace-scoped service account) say nothing about its existence.
 */
export type LeaseNamespaceOutcome = "exists" | "created" | "unverified";

/** Label on a namespace the operator made for its Lease, so whoever finds it knows where it came from. */
export const leaseNamespaceLabel = "longvideo.dev/lease-namespace";

export async function ensureLeaseNamespace(
  client: Pick<KubeClient, "get" | "create">,
  name: string,
  fieldManager: string,
): Promise<KubeResult<LeaseNamespaceOutcome>> {
  const found = await client.get(`/api/v1/namespaces/${name}`);
  if (found.ok) return { ok: true, value: "exists" };
  // Forbidden to read namespaces (a restricted kubeconfig) still lets it try to create, which may be allowed.
  if (found.error.kind !== "NotFound" && found.error.kind !== "Forbidden") return found;
  const body = {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name, labels: { [leaseNamespaceLabel]: "true" } },
  };
  const created = await client.create("/api/v1/namespaces", body, fieldManager);
  if (created.ok) return { ok: true, value: "created" };
  if (created.error.kind === "AlreadyExists") return { ok: true, value: "exists" };
  // Refused both ways, it may well exist (a namespaced install's own namespace): leader election tells if not.
  if (found.error.kind === "Forbidden" && created.error.kind === "Forbidden") return { ok: true, value: "unverified" };
  return created;
}
