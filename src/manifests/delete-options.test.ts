import { describe, expect, it } from "vitest";
import { deleteOptions } from "./delete-options.ts";

describe("deleteOptions", () => {
  it("deletes only the object of the UID the decision was about", () => {
    expect(deleteOptions("job-uid", "Background")).toEqual({
      apiVersion: "v1",
      kind: "DeleteOptions",
      preconditions: { uid: "job-uid" },
      propagationPolicy: "Background",
    });
    expect(deleteOptions("claim-uid")).toEqual({
      apiVersion: "v1",
      kind: "DeleteOptions",
      preconditions: { uid: "claim-uid" },
    });
  });

  it("names no UID when none is known, rather than one that matches nothing", () => {
    expect(deleteOptions("")).toEqual({ apiVersion: "v1", kind: "DeleteOptions" });
  });
});
