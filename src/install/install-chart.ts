/**
 * The cdk8s chart of a plain install (what `manifests/install.yaml` holds), synthesized from the facts in
 * {@link operatorInstall} so that it cannot drift from the Helm chart that shares them.
 */
import { ApiObject, Chart } from "cdk8s";
import { k8s } from "cdk8s-plus-28";
import type { Construct } from "constructs";
import { longVideoResource } from "../api/long-video.ts";
import { longVideoCrd } from "../api/long-video-crd.ts";
import { operatorInstall } from "./operator-install.ts";
import type { ExplainedPolicyRule, HttpProbeFacts, OperatorInstall } from "./operator-install.ts";

/**
 * Namespace, CRD, ServiceAccount, RBAC, the Lease's FlowSchema, Deployment, PodDisruptionBudget and metrics Service
 * of the operator, in the order `kubectl apply -f` needs (the namespace before what lives in it).
 */
export class InstallChart extends Chart {
  constructor(scope: Construct, id: string, install: OperatorInstall = operatorInstall) {
    // No chart-wide namespace: cdk8s would stamp it on the cluster-scoped objects too.
    super(scope, id, { labels: { ...install.labels }, disableResourceNameHashes: true });
    const { name, namespace } = install;
    const serviceAccount = { kind: "ServiceAccount", name, namespace };

    new k8s.KubeNamespace(this, "namespace", {
      metadata: { name: namespace, labels: { ...install.namespaceLabels } },
    });
    // The generated CRD's spec, passed through untyped: the typed construct would drop its `x-kubernetes-*` keys.
    new ApiObject(this, "crd", {
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: `${longVideoResource.plural}.${longVideoResource.group}` },
      spec: longVideoCrd().spec,
    });
    new k8s.KubeServiceAccount(this, "service-account", {
      metadata: { name, namespace },
      automountServiceAccountToken: true,
    });
    this.#grantWatched(install, serviceAccount);
    new k8s.KubeRole(this, "leader-election-role", {
      metadata: { name: install.leaderElectionRoleName, namespace },
      rules: install.leaderElectionRules.map(policyRule),
    });
    new k8s.KubeRoleBinding(this, "leader-election-role-binding", {
      metadata: { name: install.leaderElectionRoleName, namespace },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: install.leaderElectionRoleName },
      subjects: [serviceAccount],
    });
    this.#prioritiseLease(install);
    new k8s.KubeDeployment(this, "deployment", {
      metadata: { name, namespace },
      spec: {
        replicas: install.replicas,
        selector: { matchLabels: { ...install.selectorLabels } },
        template: {
          metadata: { labels: { ...install.selectorLabels } },
          spec: {
            serviceAccountName: name,
            securityContext: {
              ...install.podSecurityContext,
              seccompProfile: { ...install.podSecurityContext.seccompProfile },
            },
            terminationGracePeriodSeconds: install.terminationGracePeriodSeconds,
            containers: [
              {
                name: "operator",
                image: install.image,
                imagePullPolicy: install.imagePullPolicy,
                env: install.env.map((variable) =>
                  "fieldPath" in variable
                    ? { name: variable.name, valueFrom: { fieldRef: { fieldPath: variable.fieldPath } } }
                    : { name: variable.name, value: variable.value },
                ),
                ports: [{ name: install.metricsPort.name, containerPort: install.metricsPort.port, protocol: "TCP" }],
                livenessProbe: httpProbe(install.livenessProbe, install.metricsPort.name),
                readinessProbe: httpProbe(install.readinessProbe, install.metricsPort.name),
                resources: {
                  requests: quantities(install.resources.requests),
                  limits: quantities(install.resources.limits),
                },
                securityContext: {
                  ...install.containerSecurityContext,
                  capabilities: { drop: [...install.containerSecurityContext.capabilities.drop] },
                },
              },
            ],
          },
        },
      },
    });
    if (install.replicas > 1) {
      new k8s.KubePodDisruptionBudget(this, "disruption-budget", {
        metadata: { name, namespace },
        spec: {
          maxUnavailable: k8s.IntOrString.fromNumber(install.maxUnavailable),
          selector: { matchLabels: { ...install.selectorLabels } },
        },
      });
    }
    new k8s.KubeService(this, "metrics-service", {
      metadata: { name, namespace },
      spec: {
        selector: { ...install.selectorLabels },
        ports: [
          {
            name: install.metricsPort.name,
            port: install.metricsPort.port,
            targetPort: k8s.IntOrString.fromString(install.metricsPort.name),
            protocol: "TCP",
          },
        ],
      },
    });
  }

  /** The FlowSchema that puts the operator's Lease requests in the API server's leader-election priority level. */
  #prioritiseLease(install: OperatorInstall): void {
    const { name, namespace } = install;
    new ApiObject(this, "leader-election-flow-schema", {
      apiVersion: "flowcontrol.apiserver.k8s.io/v1",
      kind: "FlowSchema",
      metadata: { name: install.leaderElectionRoleName },
      spec: {
        priorityLevelConfiguration: { name: install.leaseFlowSchema.priorityLevel },
        matchingPrecedence: install.leaseFlowSchema.matchingPrecedence,
        distinguisherMethod: { type: "ByUser" },
        rules: [
          {
            subjects: [{ kind: "ServiceAccount", serviceAccount: { name, namespace } }],
            resourceRules: install.leaderElectionRules.map((rule) => ({
              apiGroups: [...rule.apiGroups],
              resources: [...rule.resources],
              verbs: [...rule.verbs],
              namespaces: [namespace],
            })),
          },
        ],
      },
    });
  }

  /**
   * What the operator does where it watches films: a ClusterRole over every namespace, or a Role in each watched
   * namespace plus, for nodes, a read-only ClusterRole of their own.
   */
  #grantWatched(install: OperatorInstall, serviceAccount: k8s.Subject): void {
    const { name } = install;
    if (install.watchNamespaces.length === 0) {
      new k8s.KubeClusterRole(this, "cluster-role", {
        metadata: { name },
        rules: [...install.namespacedRules, ...(install.watchNodes ? install.nodeRules : [])].map(policyRule),
      });
      new k8s.KubeClusterRoleBinding(this, "cluster-role-binding", {
        metadata: { name },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
        subjects: [serviceAccount],
      });
    } else {
      // Where films are watched, and nowhere else: no cluster-wide right on a namespaced resource.
      for (const watched of new Set(install.watchNamespaces)) {
        new k8s.KubeRole(this, `role-${watched}`, {
          metadata: { name, namespace: watched },
          rules: install.namespacedRules.map(policyRule),
        });
        new k8s.KubeRoleBinding(this, `role-binding-${watched}`, {
          metadata: { name, namespace: watched },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
          subjects: [serviceAccount],
        });
      }
      if (install.watchNodes) {
        const nodesRoleName = `${name}-nodes`;
        new k8s.KubeClusterRole(this, "nodes-cluster-role", {
          metadata: { name: nodesRoleName },
          rules: install.nodeRules.map(policyRule),
        });
        new k8s.KubeClusterRoleBinding(this, "nodes-cluster-role-binding", {
          metadata: { name: nodesRoleName },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: nodesRoleName },
          subjects: [serviceAccount],
        });
      }
    }
  }
}

function policyRule(rule: ExplainedPolicyRule): k8s.PolicyRule {
  return { apiGroups: [...rule.apiGroups], resources: [...rule.resources], verbs: [...rule.verbs] };
}

function httpProbe(probe: HttpProbeFacts, port: string): k8s.Probe {
  return {
    httpGet: { path: probe.path, port: k8s.IntOrString.fromString(port) },
    periodSeconds: probe.periodSeconds,
    failureThreshold: probe.failureThreshold,
  };
}

function quantities(values: { readonly cpu: string; readonly memory: string }): Record<string, k8s.Quantity> {
  return { cpu: k8s.Quantity.fromString(values.cpu), memory: k8s.Quantity.fromString(values.memory) };
}
