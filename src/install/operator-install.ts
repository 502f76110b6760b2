/**
 * What installing the operator means, as data: the one source that `manifests/install.yaml` is synthesized from
 * and that the Helm chart's RBAC rules are generated from (`charts/longvideo-operator/files/rbac-rules.yaml`).
 * Unit tests hold the chart's templated parts (env, probes, security context) to these facts too.
 */
import { defaultOperatorFilmPolicy } from "../api/film-policy.ts";
import { canonicalJson } from "../plan/canonical-json.ts";
import packageJson from "../../package.json" with { type: "json" };
import { referenceFetch } from "../api/runtime-contract.ts";

/** A Kubernetes RBAC PolicyRule, with the reason it is granted (written next to it as a comment). */
export interface ExplainedPolicyRule {
  /** Why the operator needs this, for whoever reviews the grant. */
  readonly why?: string;
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly verbs: readonly string[];
}

/** An HTTP probe on the metrics port. */
export interface HttpProbeFacts {
  readonly path: string;
  readonly periodSeconds: number;
  readonly failureThreshold: number;
}

/** An environment variable of the operator's container: a literal, or a field of its own pod. */
export type OperatorEnvVar =
  { readonly name: string; readonly value: string } | { readonly name: string; readonly fieldPath: string };

/** The facts of an installation that does not come from Helm values. */
export interface OperatorInstall {
  /** Name of every object (the chart's full name for a release named like the chart). */
  readonly name: string;
  readonly namespace: string;
  readonly version: string;
  readonly image: string;
  readonly imagePullPolicy: "Always" | "IfNotPresent" | "Never";
  readonly replicas: number;
  /** Replicas a node drain may take at a time (a PodDisruptionBudget, with more than one replica). */
  readonly maxUnavailable: number;
  /** Labels that select the operator's pods (the Deployment's selector and the Service's). */
  readonly selectorLabels: Readonly<Record<string, string>>;
  /** Labels on every object. */
  readonly labels: Readonly<Record<string, string>>;
  /** Labels on the namespace, which enforce the Pod Security level the operator's pods are built to pass. */
  readonly namespaceLabels: Readonly<Record<string, string>>;
  /**
   * The namespaces whose films the operator watches and acts on (the chart's `watchNamespaces`); empty: every
   * namespace.
   */
  readonly watchNamespaces: readonly string[];
  /** Whether the operator watches nodes, read-only, to tell films their pod's node is lost (`watchNodes`). */
  readonly watchNodes: boolean;
  /**
   * What the operator does where it watches films: granted by the ClusterRole when it watches every namespace,
   * else by a Role in each watched namespace, and then no cluster-wide right on these resources.
   */
  readonly namespacedRules: readonly ExplainedPolicyRule[];
  /** Cluster-scoped and read-only: in the ClusterRole, or in a ClusterRole of their own (`<name>-nodes`). */
  readonly nodeRules: readonly ExplainedPolicyRule[];
  /** Granted by a Role in the operator's namespace, where its Lease lives. */
  readonly leaderElectionRules: readonly ExplainedPolicyRule[];
  readonly leaderElectionRoleName: string;
  /**
   * API Priority and Fairness for the operator's Lease requests: a FlowSchema (named after the Role) that puts
   * them in the API server's `leader-election` priority level, ahead of everything its reconcilers send, so that a
   * burst of the operator's own writes cannot make it miss a renewal.
   */
  readonly leaseFlowSchema: { readonly priorityLevel: string; readonly matchingPrecedence: number };
  readonly metricsPort: { readonly name: string; readonly port: number };
  readonly livenessProbe: HttpProbeFacts;
  readonly readinessProbe: HttpProbeFacts;
  readonly podSecurityContext: {
    readonly runAsNonRoot: true;
    readonly runAsUser: number;
    readonly runAsGroup: number;
    readonly seccompProfile: { readonly type: "RuntimeDefault" };
  };
  readonly containerSecurityContext: {
    readonly allowPrivilegeEscalation: false;
    readonly readOnlyRootFilesystem: true;
    readonly capabilities: { readonly drop: readonly ["ALL"] };
  };
  readonly resources: {
    readonly requests: { readonly cpu: string; readonly memory: string };
    readonly limits: { readonly cpu: string; readonly memory: string };
  };
  readonly terminationGracePeriodSeconds: number;
  readonly env: readonly OperatorEnvVar[];
}

const name = "longvideo-operator";
const namespace = "longvideo-system";
const version = packageJson.version;
const metricsPort = { name: "http-metrics", port: 8080 };
const selectorLabels = { "app.kubernetes.io/name": name, "app.kubernetes.io/instance": name };

/** The operator's installation, with the same defaults as the Helm chart's values. */
export const operatorInstall: OperatorInstall = {
  name,
  namespace,
  version,
  image: `ghcr.io/longvideo/operator:${version}`,
  imagePullPolicy: "IfNotPresent",
  // One acts, one waits warm behind the Lease.
  replicas: 2,
  // A drain takes one replica at a time: a standby is always there to take the lease.
  maxUnavailable: 1,
  selectorLabels,
  labels: {
    ...selectorLabels,
    "app.kubernetes.io/version": version,
    "app.kubernetes.io/component": "operator",
  },
  namespaceLabels: {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
  },
  // Every namespace, as before namespaced installs (docs/adr/0014-namespaced-installs.md).
  watchNamespaces: [],
  watchNodes: true,
  // Exactly what the operator does, and nothing more (an integration test runs it with this identity).
  namespacedRules: [
    {
      why: "Films: watched where the operator watches; the finalizer is the only change to the object itself.",
      apiGroups: ["longvideo.dev"],
      resources: ["longvideos"],
      verbs: ["get", "list", "watch", "patch"],
    },
    { apiGroups: ["longvideo.dev"], resources: ["longvideos/status"], verbs: ["patch"] },
    {
      why: "One Job per segment attempt and one for concatenation; stale ones are deleted.",
      apiGroups: ["batch"],
      resources: ["jobs"],
      verbs: ["list", "watch", "create", "delete"],
    },
    {
      why:
        "Pods are only read: node, timings and the termination message carry each segment's result; one is read " +
        "afresh (get) before its job is let go from a lost node, in case it has just ended.",
      apiGroups: [""],
      resources: ["pods"],
      verbs: ["get", "list", "watch"],
    },
    {
      why: "The per-film workspace: created, released (owner reference removed) when retained, deleted otherwise.",
      apiGroups: [""],
      resources: ["persistentvolumeclaims"],
      verbs: ["list", "watch", "create", "patch", "delete"],
    },
    {
      why: "Events about films (what `kubectl describe lv` shows); only ever created.",
      apiGroups: ["events.k8s.io"],
      resources: ["events"],
      verbs: ["create"],
    },
    {
      why: "Read, never written: why a Job cannot create its pod (FailedCreate) or a pod cannot mount (FailedMount).",
      apiGroups: [""],
      resources: ["events"],
      verbs: ["list", "watch"],
    },
    {
      why:
        "Read, never written: Kueue's Workloads for the Jobs of films with spec.gpu.queueName, whose words say why " +
        "a Job waits in its queue and how often Kueue evicted it. Harmless where Kueue is not installed.",
      apiGroups: ["kueue.x-k8s.io"],
      resources: ["workloads"],
      verbs: ["list", "watch"],
    },
  ],
  nodeRules: [
    {
      why: "Read, never written: whether the node a render pod runs on is lost.",
      apiGroups: [""],
      resources: ["nodes"],
      verbs: ["list", "watch"],
    },
  ],
  leaderElectionRules: [
    {
      why: "Leader election: one Lease in the operator's namespace.",
      apiGroups: ["coordination.k8s.io"],
      resources: ["leases"],
      verbs: ["get", "create", "update"],
    },
  ],
  leaderElectionRoleName: `${name}-leader-election`,
  // Kubernetes' own `leader-election` level (kube-controller-manager's and the scheduler's leases); 150 sits between
  // its system FlowSchemas (100 and 200) and is far ahead of the service-account catch-all (9000).
  leaseFlowSchema: { priorityLevel: "leader-election", matchingPrecedence: 150 },
  metricsPort,
  livenessProbe: { path: "/healthz", periodSeconds: 10, failureThreshold: 3 },
  readinessProbe: { path: "/readyz", periodSeconds: 5, failureThreshold: 2 },
  // The `restricted` Pod Security level, field by field; 65532 is the image's non-root user.
  podSecurityContext: {
    runAsNonRoot: true,
    runAsUser: 65532,
    runAsGroup: 65532,
    seccompProfile: { type: "RuntimeDefault" },
  },
  containerSecurityContext: {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ["ALL"] },
  },
  resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "1", memory: "512Mi" } },
  // Long enough to finish reconciles in flight and release the lease.
  terminationGracePeriodSeconds: 30,
  // The variables `src/config/operator-config.ts` reads, set to the chart's default values.
  env: [
    { name: "POD_NAME", fieldPath: "metadata.name" },
    { name: "POD_NAMESPACE", fieldPath: "metadata.namespace" },
    // In a pod the metrics and health endpoints must be reachable from the kubelet and Prometheus.
    { name: "LV_HTTP_HOST", value: "0.0.0.0" },
    { name: "LV_HTTP_PORT", value: String(metricsPort.port) },
    { name: "LV_CONCURRENCY", value: "4" },
    { name: "LV_LOG_LEVEL", value: "info" },
    // V8 sizes its heap for the whole machine and collects lazily: on a large node an operator whose live objects
    // take tens of MiB grew to hundreds. A small young generation and a bounded old one keep it near its live
    // set (ADR 0008); 128 MiB is several times the heap measured at 200 films x 20 segments.
    { name: "NODE_OPTIONS", value: "--max-old-space-size=128 --max-semi-space-size=2" },
    { name: "LV_LEADER_ELECTION", value: "true" },
    { name: "LV_LEASE_NAME", value: name },
    { name: "LV_LEASE_DURATION_SECONDS", value: "15" },
    { name: "LV_RENEW_DEADLINE_SECONDS", value: "10" },
    { name: "LV_RETRY_PERIOD_SECONDS", value: "2" },
    { name: "LV_RUNTIME_IMAGE", value: `ghcr.io/longvideo/runtime:${version}` },
    { name: "LV_RUNTIME_IMAGE_PULL_POLICY", value: "IfNotPresent" },
    { name: "LV_DEFAULT_BACKEND", value: "svi" },
    { name: "LV_DEFAULT_NODE_SELECTOR", value: "{}" },
    // Keys in Helm's toJson order (sorted), so the value reads the same as the chart's.
    { name: "LV_DEFAULT_TOLERATIONS", value: '[{"effect":"NoSchedule","key":"nvidia.com/gpu","operator":"Exists"}]' },
    { name: "LV_MODEL_CACHE_CLAIM", value: "" },
    { name: "LV_WARM_START_MAX_LEAD_SECONDS", value: "600" },
    { name: "LV_WARM_START_MARGIN_SECONDS", value: "5" },
    { name: "LV_WARM_START_MAX_AHEAD", value: "3" },
    // The safe default policy: what the chart's values.yaml sets (a tool test holds the two equal).
    { name: "LV_FILM_POLICY", value: canonicalJson(defaultOperatorFilmPolicy) },
    // Nothing allowed, no cluster ranges known (the chart's values ask the platform team for them), the
    // contract's limits; keys in Helm's toJson order (sorted).
    {
      name: "LV_FETCH_POLICY",
      value: JSON.stringify({
        allowCidrs: [],
        maxBytes: referenceFetch.maxBytes,
        refuseCidrs: [],
        timeoutSeconds: referenceFetch.timeoutSeconds,
      }),
    },
    { name: "LV_WATCH_NAMESPACES", value: "" },
    { name: "LV_WATCH_NODES", value: "true" },
  ],
};

/** Which namespaces an install watches (empty: every namespace) and whether it watches nodes. */
export interface WatchScope {
  readonly watchNamespaces: readonly string[];
  readonly watchNodes: boolean;
}

/** An install with another watch scope: its RBAC follows the scope's fields, its environment says the same. */
export function scopedInstall(install: OperatorInstall, scope: WatchScope): OperatorInstall {
  const values = new Map([
    ["LV_WATCH_NAMESPACES", scope.watchNamespaces.join(",")],
    ["LV_WATCH_NODES", String(scope.watchNodes)],
  ]);
  const env = install.env.map((variable) => {
    const value = values.get(variable.name);
    return value === undefined ? variable : { name: variable.name, value };
  });
  return { ...install, watchNamespaces: [...scope.watchNamespaces], watchNodes: scope.watchNodes, env };
}
