/**
 * The resource a request to the API server is about, as a metric label: `jobs`, `pods`, `events`,
 * `longvideos/status`, `leases`. Never a name or a namespace, so the label's values stay as few as the resources
 * the operator touches, however many films it reconciles.
 */

/** A path segment that can be a resource or a subresource: lower-case DNS label characters only. */
const resourceSegment = /^[a-z][a-z0-9-]*$/;

/**
 * The resource of an API path (`/api/v1/...` or `/apis/<group>/<version>/...`), with its subresource if any
 * (`longvideos/status`); `other` for anything else (`/version`, `/healthz`, a path that does not parse).
 */
export function requestResource(path: string): string {
  const segments = (path.split("?", 1)[0] ?? "").split("/").filter((s) => s !== "");
  // Past the API prefix: `api/<version>` for the core group, `apis/<group>/<version>` for the others.
  const prefix = segments[0] === "api" ? 2 : segments[0] === "apis" ? 3 : undefined;
  if (prefix === undefined || segments.length <= prefix) return "other";
  let rest = segments.slice(prefix);
  // `namespaces/<ns>/<resource>...` is a namespaced resource; `namespaces` or `namespaces/<ns>` the namespace itself.
  if (rest[0] === "namespaces" && rest.length > 2) rest = rest.slice(2);
  const [resource, , subresource] = rest;
  if (resource === undefined || !resourceSegment.test(resource)) return "other";
  return subresource !== undefined && resourceSegment.test(subresource) ? `${resource}/${subresource}` : resource;
}
