import { describe, expect, it } from "vitest";
import { concatJobName, segmentJobName, workspaceClaimName } from "./object-names.ts";

const film = { name: "bay", uid: "u1" };
const long = (last: string) => ({ name: `${"f".repeat(79)}${last}`, uid: "u1" });

describe("object names", () => {
  it.each([
    {
      name: "a segment job",
      make: (f: typeof film) => segmentJobName(f, 12, "hash", "sha256:x", 3),
      suffix: /-s12-[0-9a-f]{8}-a3$/,
    },
    {
      name: "a concat job",
      make: (f: typeof film) => concatJobName(f, "hash", "d", 1),
      suffix: /-concat-[0-9a-f]{8}-a1$/,
    },
    { name: "a workspace claim", make: (f: typeof film) => workspaceClaimName(f.name), suffix: /-workspace$/ },
  ])(
    "$name is named after its film, and a long name is cut to 63 characters with a digest of the whole",
    ({ make, suffix }) => {
      expect(make(film)).toMatch(new RegExp(`^bay${suffix.source}`));
      const cut = make(long("a"));
      expect(cut.length).toBe(63);
      expect(cut).toMatch(new RegExp(`-[0-9a-f]{8}${suffix.source}`));
      expect(make(long("a"))).toBe(cut);
      // Two long names that differ only past the cut get different names.
      expect(make(long("b"))).not.toBe(cut);
    },
  );

  it("names a segment job differently for other inputs, another hash, another attempt or another film of the same name", () => {
    const name = segmentJobName(film, 1, "h", "sha256:x", 0);
    expect(segmentJobName(film, 1, "h", "sha256:y", 0)).not.toBe(name);
    expect(segmentJobName(film, 1, "h2", "sha256:x", 0)).not.toBe(name);
    expect(segmentJobName(film, 1, "h", "sha256:x", 1)).not.toBe(name);
    expect(segmentJobName({ ...film, uid: "u2" }, 1, "h", "sha256:x", 0)).not.toBe(name);
    expect(concatJobName({ ...film, uid: "u2" }, "h", "d", 0)).not.toBe(concatJobName(film, "h", "d", 0));
  });

  it("names the workspace after the film's name alone, so a re-created film finds a retained workspace", () => {
    expect(workspaceClaimName("bay")).toBe("bay-workspace");
  });
});
