import { describe, expect, it } from "vitest";
import { RecentlyUsedMap } from "./recently-used-map.ts";

describe("RecentlyUsedMap", () => {
  it("forgets the least recently used entry beyond its capacity, a read counting as a use", () => {
    const map = new RecentlyUsedMap<string, number>(2);
    map.set("a", 1);
    map.set("b", 2);
    expect(map.get("a")).toBe(1);
    map.set("c", 3);
    expect(map.size).toBe(2);
    expect(map.get("b")).toBeUndefined();
    expect(map.get("a")).toBe(1);
    expect(map.get("c")).toBe(3);
    // Setting a kept key again replaces its value and forgets nothing.
    map.set("a", 10);
    expect([map.size, map.get("a"), map.get("c")]).toEqual([2, 10, 3]);
    map.delete("a");
    expect([map.size, map.get("a")]).toEqual([1, undefined]);
  });

  it("refuses a capacity below one", () => {
    expect(() => new RecentlyUsedMap(0)).toThrow(RangeError);
  });
});
