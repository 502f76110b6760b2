/**
 * String formats Kubernetes itself enforces on names, label keys and values, as zod schemas. Each pattern is
 * written in the common subset of JavaScript and RE2 syntax (no lookaround, no backreferences) because the same
 * pattern is checked by zod here and by the API server's OpenAPI validation there.
 */
import * as z from "zod";
import { celValidated } from "./cel-rules.ts";

/**
 * The longest DNS-1123 label, label value or name part of a label key: 63 characters. Every name the operator
 * derives from a film's name (jobs, claims, the film label) is cut to fit it.
 */
export const maxLabelLength = 63;

const dnsLabelPattern = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const qualifiedNamePart = "[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?";

/** A DNS-1123 subdomain: the name of most objects (ConfigMaps, PVCs, StorageClasses, PriorityClasses). */
export const dnsSubdomain = z
  .string()
  .min(1)
  .max(253)
  .regex(new RegExp(`^${dnsLabelPattern}(\\.${dnsLabelPattern})*$`));

/** A DNS-1123 label: at most 63 lowercase alphanumerics or '-', starting and ending alphanumeric. */
export const dnsLabel = z
  .string()
  .min(1)
  .max(maxLabelLength)
  .regex(new RegExp(`^${dnsLabelPattern}$`));

/**
 * The syntax of a label or annotation key: an optional DNS subdomain prefix and '/', then a name of 1 to 63
 * characters. The prefix's own limit (253 characters) is checked apart, by {@link qualifiedNameCel}.
 */
export const qualifiedNameRegex = new RegExp(
  `^(${dnsLabelPattern}(\\.${dnsLabelPattern})*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`,
);

/** True when the DNS prefix of a qualified name (before its '/') is at most 253 characters. */
export function qualifiedNamePrefixValid(key: string): boolean {
  const slash = key.indexOf("/");
  return slash < 0 || slash <= 253;
}

/**
 * CEL that holds when the string `variable` is a qualified name. Map keys have no schema of their own in a CRD,
 * so labels and annotations are checked with this rule over `self.all(k, ...)`.
 */
export function qualifiedNameCel(variable: string): string {
  return `${variable}.matches(r'${qualifiedNameRegex.source}') && (!${variable}.contains('/') || ${variable}.indexOf('/') <= 253)`;
}

/** A label or annotation key, such as `app.kubernetes.io/name` or `tier`. */
export const qualifiedName = celValidated(z.string().min(1).max(317).regex(qualifiedNameRegex), [
  {
    rule: "!self.contains('/') || self.indexOf('/') <= 253",
    message: "the prefix before '/' is at most 253 characters",
    holds: qualifiedNamePrefixValid,
  },
]);

/** A label value: empty, or up to 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric. */
export const labelValue = z
  .string()
  .max(maxLabelLength)
  .regex(new RegExp(`^(${qualifiedNamePart})?$`));

/** A key in a ConfigMap's data. */
export const configMapKey = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[-._a-zA-Z0-9]+$/);

// A path segment other than "." and "..": a leading dot is allowed (".cache"), a lone or double dot is not.
const pathSegment = "(\\.?[A-Za-z0-9_-][A-Za-z0-9._-]*|\\.\\.[A-Za-z0-9._-]+)";

/** A relative path inside a volume: no leading '/', no '.' or '..' segments, portable characters only. */
export const relativePath = z
  .string()
  .min(1)
  .max(1024)
  .regex(new RegExp(`^${pathSegment}(/${pathSegment})*$`));

/** A relative path to an MP4 file inside a volume. */
export const relativeMp4Path = z
  .string()
  .min(5)
  .max(1024)
  .regex(new RegExp(`^(${pathSegment}/)*${pathSegment}\\.mp4$`));

/** A relative path to a safetensors file inside a volume (a LoRA in the model cache). */
export const relativeSafetensorsPath = z
  .string()
  .min(13)
  .max(1024)
  .regex(new RegExp(`^(${pathSegment}/)*${pathSegment}\\.safetensors$`));

// Whitespace spelled out: `\s` means more characters in JavaScript than in RE2.
const notSpace = "[^\\t\\n\\f\\r ]";

/** An http(s) URL without whitespace. */
export const httpUrl = z
  .string()
  .min(8)
  .max(2048)
  .regex(new RegExp(`^https?://[^\\t\\n\\f\\r /?#]+([/?#]${notSpace}*)?$`));

/** Text with at least one character that is not whitespace. */
export const nonBlankPattern = new RegExp(notSpace);

/**
 * A string-to-string map (labels, annotations, a node selector) with qualified-name keys and at most
 * `maxProperties` entries. A CRD cannot give map keys a schema, so the key syntax becomes a CEL rule over the map;
 * the CRD also carries the bound as `maxProperties`, which keeps that rule's cost estimate small.
 */
export function qualifiedNameMap<V extends z.ZodType<string>>(value: V, maxProperties: number) {
  return celValidated(
    z
      .record(qualifiedName, value)
      .refine((map) => Object.keys(map).length <= maxProperties, `must have at most ${String(maxProperties)} entries`)
      .meta({ maxProperties }),
    [
      {
        rule: `self.all(k, ${qualifiedNameCel("k")})`,
        message:
          "keys must be qualified names: an optional DNS subdomain prefix and '/', then 1 to 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric",
        holds: (map) => Object.keys(map).every((key) => qualifiedNameRegex.test(key) && qualifiedNamePrefixValid(key)),
      },
    ],
  );
}
