import { describe, expect, it } from "vitest";
import { compareQuantities, cpuQuantity, largerQuantity, smallerQuantity } from "./quantity.ts";

describe("compareQuantities", () => {
  it.each([
    ["500m", "1", -1],
    ["1", "1000m", 0],
    ["0.1", "100m", 0],
    ["1.5", "1501m", -1],
    ["1Gi", "1G", 1],
    ["1.5Gi", "1536Mi", 0],
    ["1610612736", "1.5Gi", 0],
    ["72Gi", "64Gi", 1],
    ["0.000001Ti", "1Mi", 1],
    ["1k", "1Ki", -1],
  ])("compares %s with %s exactly: %i", (a, b, sign) => {
    expect(compareQuantities(a, b)).toBe(sign);
    expect(compareQuantities(b, a)).toBe(sign === 0 ? 0 : -sign);
  });

  it("compares nothing outside the accepted syntax", () => {
    for (const bad of ["1e3", "-1", "1.5m", "lots", "", "1gi", "1 Gi"])
      expect(compareQuantities(bad, "1")).toBeUndefined();
  });

  it("picks the larger and the smaller, the first of equals", () => {
    expect(largerQuantity("72Gi", "80Gi")).toBe("80Gi");
    expect(smallerQuantity("72Gi", "80Gi")).toBe("72Gi");
    expect(largerQuantity("1", "1000m")).toBe("1");
    expect(smallerQuantity("1000m", "1")).toBe("1000m");
  });
});

describe("cpuQuantity", () => {
  const cpu = cpuQuantity("100m", "512");

  it.each(["100m", "500m", "1", "1.5", "4", "512", "512000m"])("accepts %s", (amount) => {
    expect(cpu.safeParse(amount).success).toBe(true);
  });

  it.each([
    ["50m", /from 100m to 512/],
    ["513", /from 100m to 512/],
    ["0.05", /from 100m to 512/],
    ["1.2345", /Invalid string/],
    ["2 cores", /Invalid string/],
    ["1Gi", /Invalid string/],
  ])("refuses %s", (amount, message) => {
    const result = cpu.safeParse(amount);
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.message).join(" ")).toMatch(message);
  });

  it("refuses bounds it cannot read", () => {
    expect(() => cpuQuantity("1Gi", "2")).toThrow(/not CPU quantities/);
  });
});
