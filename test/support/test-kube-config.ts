import { existsSync } from "node:fs";
import path from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import type { ClusterCredentials } from "../../src/kube/cluster-credentials.ts";
import { credentialsErrorMessage } from "../../src/kube/credentials-error.ts";
import { loadClusterCredentials } from "../../src/kube/load-cluster-credentials.ts";

/** Path of the local cluster's admin kubeconfig, as `make cluster-up` writes it. */
export const localClusterKubeconfig = path.resolve(import.meta.dirname, "../../.cache/cluster/kubeconfig");

/**
 * The kubeconfig integration tests talk to: `$KUBECONFIG` when set, else the local cluster's.
 * Throws when neither exists, because an integration test without a cluster must fail, not pass vacuously.
 */
export function testKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(testKubeconfigFile());
  return kc;
}

function testKubeconfigFile(): string {
  const file = process.env.KUBECONFIG ?? localClusterKubeconfig;
  if (!existsSync(file)) {
    throw new Error(`no kubeconfig at ${file}: start the local cluster with \`make cluster-up\``);
  }
  return file;
}

/**
 * The same kubeconfig as {@link testKubeConfig}, loaded by the operator's own loader, for the operator's
 * KubeClient. Throws as {@link testKubeConfig} does, and when the loader refuses the file.
 */
export async function testClusterCredentials(): Promise<ClusterCredentials> {
  const loaded = await loadClusterCredentials({ env: { ...process.env, KUBECONFIG: testKubeconfigFile() } });
  if (!loaded.ok) throw new Error(`cannot load the test kubeconfig: ${credentialsErrorMessage(loaded.error)}`);
  return loaded.value;
}
