import { describe, expect, it } from "vitest";
import { concatJobName, segmentJobName, workspaceClaimName } from "./object-names.ts";

const long = "f".repeat(80);

describe("object names", () => {
  it.each([
    {
      name: "a segment job",
      make: (film: string) => segmentJobName(film, 12, "hash", "sha256:x", 3),
      suffix: /-s12-[0-9a-f]{8}-a3$/,
    },
    { name: "a concat job", make: (film: string) => concatJobName(film, "hash", 1), suffix: /-concat-[0-9a-f]{8}-a1$/ },
    { name: "a workspace claim", make: (film: string) => workspaceClaimName(film), suffix: /-workspace$/ },
  ])(
    "$name is named after its film, cut to 63 characters keeping the suffix that identifies it",
    ({ make, suffix }) => {
      expect(make("bay")).toMatch(new RegExp(`^bay${suffix.source}`));
      const cut = make(long);
      expect(cut.length).toBe(63);
      expect(cut).toMatch(suffix);
      expect(make(long)).toBe(cut);
    },
  );

  it("names a segment job differently for other inputs, another hash or another attempt", () => {
    const name = segmentJobName("bay", 1, "h", "sha256:x", 0);
    expect(segmentJobName("bay", 1, "h", "sha256:y", 0)).not.toBe(name);
    expect(segmentJobName("bay", 1, "h2", "sha256:x", 0)).not.toBe(name);
    expect(segmentJobName("bay", 1, "h", "sha256:x", 1)).not.toBe(name);
  });
});
