/**
 * Storage sizes as Kubernetes quantities. The accepted syntax is a subset of Kubernetes' own (a plain decimal and an
 * optional binary or decimal SI suffix, no exponents, no signs, no milli-bytes), so every accepted string means the
 * same number to zod here and to CEL's `quantity()` in the API server.
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
