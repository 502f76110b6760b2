import { describe, expect, it } from "vitest";
import { requestResource } from "./request-resource.ts";

describe("requestResource", () => {
  it.each([
    ["/apis/batch/v1/namespaces/films/jobs", "jobs"],
    ["/apis/batch/v1/namespaces/films/jobs/bay-s1-abc-a0", "jobs"],
    ["/apis/batch/v1/jobs", "jobs"],
    ["/api/v1/namespaces/films/pods/bay-s1-abc-a0-x7k2p", "pods"],
    ["/api/v1/pods", "pods"],
    ["/api/v1/nodes", "nodes"],
    ["/api/v1/namespaces/films/persistentvolumeclaims/bay-workspace", "persistentvolumeclaims"],
    ["/apis/events.k8s.io/v1/namespaces/films/events", "events"],
    ["/apis/longvideo.dev/v1alpha1/namespaces/films/longvideos/bay", "longvideos"],
    ["/apis/longvideo.dev/v1alpha1/namespaces/films/longvideos/bay/status", "longvideos/status"],
    ["/apis/coordination.k8s.io/v1/namespaces/longvideo-system/leases/longvideo-operator", "leases"],
    ["/api/v1/namespaces/longvideo-system", "namespaces"],
    ["/api/v1/namespaces", "namespaces"],
    ["/apis/batch/v1/namespaces/films/jobs?labelSelector=a%3Db", "jobs"],
  ])("%s is about %s", (path, resource) => {
    expect(requestResource(path)).toBe(resource);
  });

  it("says other for what is no resource, so the label's values stay bounded", () => {
    expect(requestResource("/version")).toBe("other");
    expect(requestResource("/healthz")).toBe("other");
    expect(requestResource("/apis/batch/v1")).toBe("other");
    expect(requestResource("/api/v1/namespaces/films/Weird_Thing")).toBe("other");
  });

  it("never names an object or a namespace", () => {
    const resource = requestResource("/api/v1/namespaces/team-a/pods/film-7-s3-abc-a0");
    expect(resource).not.toContain("team-a");
    expect(resource).not.toContain("film-7");
  });
});
