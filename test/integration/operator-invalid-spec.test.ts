/**
 * A spec the operator's schema rejects. The CRD's CEL rules refuse every such spec at admission, so the only way
 * one reaches the operator is an object stored under a looser schema (an older CRD); this test makes exactly that
 * happen, then restores the real CRD.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { BatchV1Api, CoreV1Api, CustomObjectsApi, EventsV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import type { FilmStatus } from "../../src/reconcile/film-snapshot.ts";
import { startOperator } from "../support/operator-process.ts";
import type { OperatorProcess } from "../support/operator-process.ts";
import { localClusterKubeconfig, testKubeConfig } from "../support/test-kube-config.ts";

const kc = testKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const batch = kc.makeApiClient(BatchV1Api);
const events = kc.makeApiClient(EventsV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const namespace = `lv-it-invalid-${randomBytes(3).toString("hex")}`;
const api = { group: "longvideo.dev", version: "v1alpha1", namespace, plural: "longvideos" };
const crdFile = path.resolve(import.meta.dirname, "../../crds/longvideo.dev_longvideos.yaml");
let operator: OperatorProcess | undefined;

function kubectl(args: string[], input?: string): string {
  return execFileSync("kubectl", args, {
    env: { ...process.env, KUBECONFIG: process.env.KUBECONFIG ?? localClusterKubeconfig },
    encoding: "utf8",
    ...(input === undefined ? {} : { input }),
  });
}

/** The real CRD with its spec schema opened up, as an older, laxer release of the CRD might have had it. */
function laxCrd(): string {
  const crd = parse(readFileSync(crdFile, "utf8")) as {
    spec: {
      versions: {
        schema: { openAPIV3Schema: { properties: Record<string, unknown>; "x-kubernetes-validations"?: unknown } };
      }[];
    };
  };
  for (const version of crd.spec.versions) {
    const strict = version.schema.openAPIV3Schema.properties.spec as { properties: { variant: unknown } };
    // Only the variant keeps its schema: the CRD's selectable field refers to it.
    version.schema.openAPIV3Schema.properties.spec = {
      type: "object",
      "x-kubernetes-preserve-unknown-fields": true,
      properties: { variant: strict.properties.variant },
    };
    delete version.schema.openAPIV3Schema["x-kubernetes-validations"];
  }
  return stringify(crd);
}

const invalidSpec = {
  referenceImage: { url: "https://images.example.com/first-frame.png" },
  storyline: [{ prompt: "a paper boat", clips: 2 }],
  render: { backend: "animatic", framesPerClip: 80 },
  gpu: {
    nodeSelector: { "longvideo.dev/pool": "h100" },
    tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
  },
  storage: { workspace: { accessMode: "ReadWriteMany" } },
};

beforeAll(async () => {
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  kubectl(["apply", "--server-side", "--force-conflicts", "-f", "-"], laxCrd());
  try {
    // The lax schema may take a moment to be served; retry the create until it is accepted.
    for (let i = 0; ; i++) {
      try {
        await custom.createNamespacedCustomObject({
          ...api,
          body: {
            apiVersion: "longvideo.dev/v1alpha1",
            kind: "LongVideo",
            metadata: { name: "boat" },
            spec: invalidSpec,
          },
        });
        break;
      } catch (error) {
        if (i > 50) throw error;
        await sleep(200);
      }
    }
  } finally {
    kubectl(["apply", "--server-side", "--force-conflicts", "-f", crdFile]);
  }
  operator = await startOperator({ identity: "operator-invalid", leaseNamespace: namespace });
}, 120_000);

afterAll(async () => {
  await operator?.stop();
  await core.deleteNamespace({ name: namespace });
});

async function status(): Promise<FilmStatus | undefined> {
  return ((await custom.getNamespacedCustomObject({ ...api, name: "boat" })) as { status?: FilmStatus }).status;
}

describe("an invalid spec that reached the operator", () => {
  it("gets Ready=False InvalidSpec naming the field, an event, and no pods; fixing it renders the film", async () => {
    let ready;
    for (let i = 0; i < 200 && ready?.reason !== "InvalidSpec"; i++) {
      ready = (await status())?.conditions?.find((c) => c.type === "Ready");
      if (ready?.reason !== "InvalidSpec") await sleep(100);
    }
    expect(ready).toMatchObject({ status: "False", reason: "InvalidSpec" });
    expect(ready?.message).toContain("spec.render.framesPerClip");
    expect(ready?.message).toContain("4n+1");
    const warnings = (await events.listNamespacedEvent({ namespace })).items.filter((e) => e.reason === "InvalidSpec");
    expect(warnings.length).toBe(1);
    expect(warnings[0]?.note).toContain("spec.render.framesPerClip");
    await sleep(2_000);
    expect((await batch.listNamespacedJob({ namespace })).items).toHaveLength(0);

    kubectl(["-n", namespace, "patch", "lv", "boat", "--type=merge", "-p", '{"spec":{"render":{"framesPerClip":81}}}']);
    let phase: string | undefined;
    for (let i = 0; i < 400 && phase !== "Succeeded"; i++) {
      phase = (await status())?.phase;
      if (phase !== "Succeeded") await sleep(250);
    }
    expect(phase).toBe("Succeeded");
  });
});
