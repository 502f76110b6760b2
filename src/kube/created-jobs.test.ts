import { describe, expect, it } from "vitest";
import type { JobObject } from "../api/kubernetes-objects.ts";
import { CreatedJobs } from "./created-jobs.ts";

const job = (name: string): JobObject => ({ metadata: { name, namespace: "films", uid: `uid-${name}` } });

describe("CreatedJobs", () => {
  it("stands a created Job in for the cache until the informer delivers it", () => {
    const created = new CreatedJobs(() => 0);
    created.created("films/bay", job("bay-s1"));
    expect(created.withCreated("films/bay", [job("bay-s0")])).toEqual([job("bay-s0"), job("bay-s1")]);
    expect(created.withCreated("films/kite", [])).toEqual([]);
    created.delivered("films/bay", job("bay-s1"));
    expect(created.withCreated("films/bay", [job("bay-s0")])).toEqual([job("bay-s0")]);
  });

  it("never doubles a Job the cache already holds (its watch event came before the create's answer)", () => {
    const created = new CreatedJobs(() => 0);
    created.delivered("films/bay", job("bay-s1"));
    created.created("films/bay", job("bay-s1"));
    const cached = { metadata: { ...job("bay-s1").metadata, resourceVersion: "7" } };
    expect(created.withCreated("films/bay", [cached])).toEqual([cached]);
    // And once the cache held it, a later deletion is not undone by the stand-in.
    expect(created.withCreated("films/bay", [])).toEqual([]);
  });

  it("lets a stand-in go after a minute, and with its film", () => {
    let now = 0;
    const created = new CreatedJobs(() => now);
    created.created("films/bay", job("bay-s1"));
    now = 60_001;
    expect(created.withCreated("films/bay", [])).toEqual([]);
    created.created("films/bay", job("bay-s2"));
    created.forget("films/bay");
    expect(created.withCreated("films/bay", [])).toEqual([]);
  });
});
