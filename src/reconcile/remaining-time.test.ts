import { describe, expect, it } from "vitest";
import { remainingTime } from "./remaining-time.ts";

const s = 1000;
const m = 60 * s;
const h = 60 * m;

describe("remainingTime", () => {
  it.each([
    [1 * s, "1m", 1 * s],
    [4 * m, "4m", 1 * m],
    [3 * m + 20 * s, "4m", 20 * s],
    [59 * m + 1 * s, "1h", 1 * s],
    [60 * m, "1h", 1 * m],
    [61 * m, "1h10m", 1 * m],
    [2 * h + 5 * m, "2h10m", 5 * m],
    [24 * h, "1d", 10 * m],
    [27 * h + 30 * m, "1d4h", 30 * m],
    [48 * h, "2d", 1 * h],
  ])("with %i ms left says %s, and changes in %i ms", (left, text, changesInMs) => {
    expect(remainingTime(1_000_000_000 + left, 1_000_000_000)).toEqual({ text, changesInMs });
  });

  it("says overdue once the ETA has passed, and then stays put", () => {
    expect(remainingTime(1000, 1000)).toEqual({ text: "overdue" });
    expect(remainingTime(1000, 5000)).toEqual({ text: "overdue" });
  });

  it("changes at most once a minute, every text rounded up", () => {
    const eta = 10 * h;
    let now = 0;
    let changes = 0;
    for (;;) {
      const { text, changesInMs } = remainingTime(eta, now);
      if (changesInMs === undefined) break;
      expect(changesInMs).toBeGreaterThan(0);
      expect(changesInMs).toBeLessThanOrEqual(h);
      if (changesInMs < m) expect(now).toBe(0);
      now += changesInMs;
      changes++;
      expect(remainingTime(eta, now).text).not.toBe(text);
    }
    // 10 h: 9 h in ten-minute steps (54), then 60 one-minute steps, the last of them to overdue.
    expect(changes).toBe(54 + 60);
  });
});
