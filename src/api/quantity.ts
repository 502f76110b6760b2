/**
 * Storage sizes and CPU amounts as Kubernetes quantities. The accepted syntax is a subset of Kubernetes' own (a plain
 * decimal and an optional binary or decimal SI suffix for sizes, cores or millicores for CPU; no exponents, no signs,
 * no milli-bytes), so every accepted string means the same number to zod here and to CEL's `quantity()` in the API
 * server.
 */
import * as z from "zod";
import { celValidated } from "./cel-rules.ts";

const suffixes = {
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
};
type Suffix = keyof typeof suffixes;

/** The syntax accepted for a storage size. */
export const storageQuantityRegex = /^[0-9]{1,15}(\.[0-9]{1,6})?(k|M|G|T|P|Ki|Mi|Gi|Ti|Pi)?$/;

/** The number of bytes a quantity in {@link storageQuantityRegex} syntax stands for; `undefined` otherwise. */
export function quantityBytes(text: string): number | undefined {
  const match = /^([0-9.]+)([A-Za-z]*)$/.exec(text);
  if (!match || !storageQuantityRegex.test(text)) return undefined;
  const [, digits = "", suffix = ""] = match;
  return Number(digits) * suffixes[suffix as Suffix];
}

/**
 * A storage size between `min` and `max` (inclusive quantities). The bounds are a CEL rule using the API server's
 * quantity library, and the same comparison on byte counts for zod; within the accepted syntax the two agree.
 */
export function storageSize(min: string, max: string) {
  const low = quantityBytes(min);
  const high = quantityBytes(max);
  if (low === undefined || high === undefined) throw new Error(`bounds ${min}..${max} are not storage quantities`);
  return celValidated(z.string().min(1).max(24).regex(storageQuantityRegex), [
    {
      // isQuantity guards quantity(): a string outside the syntax is reported once, by the pattern.
      rule: `!isQuantity(self) || (quantity(self).compareTo(quantity('${min}')) >= 0 && quantity(self).compareTo(quantity('${max}')) <= 0)`,
      message: `must be a size from ${min} to ${max}, such as 20Gi`,
      holds: (self) => {
        const bytes = quantityBytes(self);
        return bytes === undefined || (bytes >= low && bytes <= high);
      },
    },
  ]);
}

/** The syntax accepted for a CPU amount: cores (up to millicore precision, `1.5`) or millicores (`500m`). */
export const cpuQuantityRegex = /^([0-9]{1,6}(\.[0-9]{1,3})?|[0-9]{1,9}m)$/;

const exactSuffixes: Readonly<Record<string, bigint>> = Object.fromEntries(
  Object.entries(suffixes).map(([suffix, factor]) => [suffix, BigInt(factor)]),
);

/** A quantity as an exact fraction, `numerator / denominator`, so that comparisons never round. */
function exactQuantity(text: string): { numerator: bigint; denominator: bigint } | undefined {
  if (!storageQuantityRegex.test(text) && !cpuQuantityRegex.test(text)) return undefined;
  const [, whole = "", fraction = "", suffix = ""] = /^([0-9]+)(?:\.([0-9]+))?([A-Za-z]*)$/.exec(text) ?? [];
  const scale = 10n ** BigInt(fraction.length);
  if (suffix === "m") return { numerator: BigInt(whole + fraction), denominator: scale * 1000n };
  const factor = exactSuffixes[suffix];
  return factor === undefined ? undefined : { numerator: BigInt(whole + fraction) * factor, denominator: scale };
}

/**
 * Negative, zero or positive as quantity `a` is less than, equal to or greater than `b` (`500m` < `1`, `1Gi` >
 * `1G`), exactly; `undefined` when either is outside the accepted syntaxes.
 */
export function compareQuantities(a: string, b: string): number | undefined {
  const x = exactQuantity(a);
  const y = exactQuantity(b);
  if (!x || !y) return undefined;
  const left = x.numerator * y.denominator;
  const right = y.numerator * x.denominator;
  return left < right ? -1 : left > right ? 1 : 0;
}

/** The larger of two quantities (the first when they are equal or not comparable). */
export function largerQuantity(a: string, b: string): string {
  return (compareQuantities(b, a) ?? 0) > 0 ? b : a;
}

/** The smaller of two quantities (the first when they are equal or not comparable). */
export function smallerQuantity(a: string, b: string): string {
  return (compareQuantities(b, a) ?? 0) < 0 ? b : a;
}

/**
 * A CPU amount between `min` and `max` (inclusive quantities), checked like {@link storageSize}: a CEL rule with the
 * API server's quantity library, and the same exact comparison for zod.
 */
export function cpuQuantity(min: string, max: string) {
  if (!cpuQuantityRegex.test(min) || !cpuQuantityRegex.test(max)) {
    throw new Error(`bounds ${min}..${max} are not CPU quantities`);
  }
  return celValidated(z.string().min(1).max(12).regex(cpuQuantityRegex), [
    {
      rule: `!isQuantity(self) || (quantity(self).compareTo(quantity('${min}')) >= 0 && quantity(self).compareTo(quantity('${max}')) <= 0)`,
      message: `must be a CPU amount from ${min} to ${max} cores, such as 500m or 4`,
      holds: (self) => {
        const low = compareQuantities(self, min);
        const high = compareQuantities(self, max);
        return low === undefined || high === undefined || (low >= 0 && high <= 0);
      },
    },
  ]);
}
