import { existsSync } from "node:fs";
import path from "node:path";
import { KubeConfig } from "@kubernetes/client-node";

/** Path of the local cluster's admin kubeconfig, as `make cluster-up` writes it. */
export const localClusterKubeconfig = path.resolve(import.meta.dirname, "../../.cache/cluster/kubeconfig");

/**
 * The kubeconfig integration tests talk to: `$KUBECONFIG` when set, else the local cluster's.
 * Throws when neither exists, because an integration test without a cluster must fail, not pass vacuously.
 */
export function testKubeConfig(): KubeConfig {
  const file = process.env.KUBECONFIG ?? localClusterKubeconfig;
  if (!existsSync(file)) {
    throw new Error(`no kubeconfig at ${file}: start the local cluster with \`make cluster-up\``);
  }
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  return kc;
}
