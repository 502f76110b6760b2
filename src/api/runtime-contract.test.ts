import { describe, expect, it } from "vitest";
import { attemptDir, attemptKey, segmentDir, workspaceLayout } from "./runtime-contract.ts";

/** A plan hash as the operator makes them (sha256 hex), and two hand-off digests. */
const planHash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const before = `sha256:${"ab".repeat(32)}`;
const after = `sha256:${"cd".repeat(32)}`;

describe("the directory an attempt writes", () => {
  it("is segments/<i>/<key>-<attempt>, the key being sha256 of '<plan hash>|<input digest>' cut to attemptKeyChars", () => {
    // Known vectors, computed outside this code: printf '%s' '<hash>|<digest>' | sha256sum.
    expect(attemptDir(0, planHash, "", 0)).toBe("segments/0/0c050f3d31a90f04-0");
    expect(attemptDir(1, planHash, before, 3)).toBe("segments/1/0c724370f2057ac5-3");
    expect(attemptKey(planHash, before)).toMatch(new RegExp(`^[0-9a-f]{${String(workspaceLayout.attemptKeyChars)}}$`));
    expect(attemptDir(7, planHash, after, 2).startsWith(`${segmentDir(7)}/`)).toBe(true);
  });

  it("is the same for the same plan hash, input digest and attempt", () => {
    expect(attemptDir(1, planHash, before, 0)).toBe(attemptDir(1, planHash, before, 0));
    expect(attemptKey(planHash, after)).toBe(attemptKey(planHash, after));
  });

  it("differs when the predecessor was rendered again: same plan hash and attempt, another input digest", () => {
    expect(attemptDir(1, planHash, after, 0)).not.toBe(attemptDir(1, planHash, before, 0));
  });

  it("differs for another plan hash, another attempt or another segment", () => {
    const dirs = [
      attemptDir(1, planHash, before, 0),
      attemptDir(1, "0".repeat(64), before, 0),
      attemptDir(1, planHash, before, 1),
      attemptDir(2, planHash, before, 0),
    ];
    expect(new Set(dirs).size).toBe(dirs.length);
  });
});
