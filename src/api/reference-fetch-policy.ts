/**
 * Where segment pods may fetch a `url` reference image from, and how much for how long: an operator setting (the
 * chart's `fetch` values) that every segment pod gets as the runtime contract's LV_FETCH_POLICY, in this shape.
 *
 * The worker (`runtime-image/src/longvideo_runtime/guarded_fetch.py`) always refuses loopback, link-local (the
 * cloud's metadata service), private, carrier-grade NAT, multicast and reserved addresses; `refuseCidrs` adds the
 * cluster's own ranges (pods and services), which may be public, and `allowCidrs` opens ranges. The most specific
 * range decides between an allowed and a refused one (docs/adr/0015-guarded-reference-fetch.md).
 */
import { z } from "zod";
import { referenceFetch } from "./runtime-contract.ts";

/** Whether `text` is an IPv4 or IPv6 range in CIDR notation: an address, a slash and a prefix length. */
export function isCidr(text: string): boolean {
  const match = /^([^/]+)\/(\d{1,3})$/.exec(text);
  if (!match) return false;
  const [, address = "", prefix = ""] = match;
  const bits = isIpv4(address) ? 32 : isIpv6(address) ? 128 : undefined;
  return bits !== undefined && Number(prefix) <= bits;
}

/** Dotted decimal, without leading zeros (which some parsers read as octal, and the worker's refuses). */
function isIpv4(text: string): boolean {
  const parts = text.split(".");
  return parts.length === 4 && parts.every((part) => /^(0|[1-9]\d{0,2})$/.test(part) && Number(part) <= 255);
}

/** Eight groups of hex, one `::` standing for one or more zero groups, the last two maybe as IPv4; no zone. */
function isIpv6(text: string): boolean {
  const halves = text.split("::");
  if (halves.length > 2) return false;
  const [left = "", right] = halves;
  const groups = (half: string) => (half === "" ? [] : half.split(":"));
  const head = groups(left);
  const tail = right === undefined ? [] : groups(right);
  const last = right === undefined ? head : tail;
  let ipv4Groups = 0;
  if (last.at(-1)?.includes(".")) {
    if (!isIpv4(last.pop() ?? "")) return false;
    ipv4Groups = 2;
  }
  const count = head.length + tail.length + ipv4Groups;
  const hex = [...head, ...tail].every((group) => /^[0-9a-f]{1,4}$/i.test(group));
  return hex && (right === undefined ? count === 8 : count <= 7);
}

const cidr = z.string().superRefine((text, ctx) => {
  if (!isCidr(text)) {
    ctx.addIssue({
      code: "custom",
      message: `${JSON.stringify(text)} is not an IPv4 or IPv6 range in CIDR notation, such as 10.244.0.0/16`,
    });
  }
});

/** The policy, with the contract's limits for what is left out and nothing allowed. */
export const referenceFetchPolicySchema = z.strictObject({
  /** Ranges opened despite the refused ones, such as an image server on a private network. */
  allowCidrs: z.array(cidr).default([]),
  /** Refused besides the built-in ranges: the cluster's pod and service ranges, and any other the platform adds. */
  refuseCidrs: z.array(cidr).default([]),
  /** The largest image fetched; the worker holds it in memory, hence the ceiling. */
  maxBytes: z
    .number()
    .int()
    .min(1)
    .max(1024 ** 3)
    .default(referenceFetch.maxBytes),
  /** For the whole fetch: lookups, connects, TLS and every read, redirects included. */
  timeoutSeconds: z.number().positive().max(3600).default(referenceFetch.timeoutSeconds),
});
export type ReferenceFetchPolicy = z.infer<typeof referenceFetchPolicySchema>;

/** LV_FETCH_POLICY's value on a segment pod: every field, in one order. */
export function referenceFetchPolicyJson(policy: ReferenceFetchPolicy): string {
  const { allowCidrs, refuseCidrs, maxBytes, timeoutSeconds } = policy;
  return JSON.stringify({ allowCidrs, refuseCidrs, maxBytes, timeoutSeconds });
}
