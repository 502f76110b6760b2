import { describe, expect, it } from "vitest";
import { concatRunEnv, localRenderPlan, segmentRunEnv } from "./local-render.ts";

const manifest = (referenceImage: unknown, render: Record<string, unknown> = {}) => ({
  apiVersion: "longvideo.dev/v1alpha1",
  kind: "LongVideo",
  metadata: { name: "quay" },
  spec: {
    referenceImage,
    storyline: [{ prompt: "a quay", clips: 2 }],
    render: { backend: "svi", ...render },
    gpu: { priorityClassName: "system-node-critical", nodeSelector: { "kubernetes.io/hostname": "gpu-1" } },
  },
});

describe("localRenderPlan", () => {
  it("renders what the operator would, with local paths instead of the pod's mounts, animatic without models", () => {
    const planned = localRenderPlan("quay", manifest({ configMap: { name: "still", key: "a.png" } }), {
      outDir: "/films",
      referenceImage: "/stills/a.png",
    });
    if (!planned.ok) throw new Error(planned.error);
    const { render } = planned;
    expect(render).toMatchObject({
      name: "quay",
      backend: "animatic",
      workspace: "/films/quay.workspace",
      film: "/films/quay.mp4",
      contactSheet: "/films/quay.contact.png",
    });
    expect(render.segments.map((s) => s.index)).toEqual([0, 1]);
    const [first, second] = render.segments;
    if (!first || !second) throw new Error("two segments");
    expect(first.env).toMatchObject({
      LV_BACKEND: "animatic",
      LV_WORKSPACE: "/films/quay.workspace",
      LV_REFERENCE_IMAGE_PATH: "/stills/a.png",
      LV_SEGMENT_INDEX: "0",
      LV_ATTEMPT: "0",
    });
    expect(first.env.LV_REFERENCE_DIR).toBeUndefined();
    expect(first.env.LV_MODELS_DIR).toBe("/models");
    expect(segmentRunEnv(second, "sha256:a").LV_INPUT_DIGEST).toBe("sha256:a");
    expect(concatRunEnv(render, "sha256:b")).toMatchObject({
      LV_FINAL_DIGEST: "sha256:b",
      LV_OUTPUT_PATH: "/films/quay.mp4",
      LV_WORKSPACE: "/films/quay.workspace",
    });
  });

  it("renders with svi from the models given", () => {
    const planned = localRenderPlan("quay", manifest({ url: "https://example.com/a.png" }), {
      outDir: "/films",
      modelsDir: "/weights",
    });
    if (!planned.ok) throw new Error(planned.error);
    expect(planned.render.backend).toBe("svi");
    expect(planned.render.segments[0]?.env).toMatchObject({ LV_BACKEND: "svi", LV_MODELS_DIR: "/weights" });
    // A url is fetched by the worker, under the same guard as in a pod.
    expect(JSON.parse(planned.render.segments[0]?.env.LV_FETCH_POLICY ?? "{}")).toMatchObject({ allowCidrs: [] });
  });

  it("asks for the image when the film's is in the cluster", () => {
    expect(localRenderPlan("quay", manifest({ configMap: { name: "still", key: "a.png" } }), { outDir: "/f" })).toEqual(
      {
        ok: false,
        error:
          "spec.referenceImage of quay is in the cluster, in ConfigMap still (key a.png): give the image with --reference FILE",
      },
    );
  });

  it("refuses an invalid film with the API server's words", () => {
    const planned = localRenderPlan("quay", manifest({ url: "https://example.com/a.png" }, { framesPerClip: 18 }), {
      outDir: "/f",
    });
    expect(planned.ok).toBe(false);
    expect(!planned.ok && planned.error).toContain('The LongVideo "quay" is invalid: ');
  });
});
