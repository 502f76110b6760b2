import { describe, expect, it } from "vitest";
import { workspaceClaim } from "./workspace-claim.ts";

describe("workspaceClaim", () => {
  const film = { name: "bay", namespace: "films", uid: "u1" };
  const workspace = { claimName: "bay-workspace", size: "20Gi", accessMode: "ReadWriteMany", retainOnDelete: true };

  it("is owned by its film and labelled for the operator's informers", () => {
    expect(workspaceClaim(film, workspace)).toMatchObject({
      metadata: {
        name: "bay-workspace",
        namespace: "films",
        labels: { "app.kubernetes.io/managed-by": "longvideo-operator", "longvideo.dev/film": "bay" },
        ownerReferences: [
          { apiVersion: "longvideo.dev/v1alpha1", kind: "LongVideo", name: "bay", uid: "u1", controller: true },
        ],
      },
      spec: { accessModes: ["ReadWriteMany"], resources: { requests: { storage: "20Gi" } } },
    });
  });

  it("names a storage class only when the film does", () => {
    expect(workspaceClaim(film, workspace).spec).not.toHaveProperty("storageClassName");
    expect(workspaceClaim(film, { ...workspace, storageClassName: "fast" }).spec).toMatchObject({
      storageClassName: "fast",
    });
  });
});
