/** A failed request to the API server, as the CLI tells it: what is wrong, in words a user can act on. Pure. */

export type ClusterErrorKind = "NotFound" | "Forbidden" | "Unauthorized" | "Other";

export interface ClusterError {
  readonly kind: ClusterErrorKind;
  /** The API server's message (its Status), or the transport's. */
  readonly message: string;
}

/** The kind of an HTTP status code from the API server. */
export function clusterErrorKind(code: number | undefined): ClusterErrorKind {
  if (code === 404) return "NotFound";
  if (code === 403) return "Forbidden";
  if (code === 401) return "Unauthorized";
  return "Other";
}

/** `action` says what was being done: "read LongVideo demo/harbour", "create a pod in demo". */
export function clusterErrorMessage(error: ClusterError, action: string): string {
  switch (error.kind) {
    case "Forbidden":
      return `no permission to ${action}: ${error.message}`;
    case "Unauthorized":
      return `the cluster does not accept these credentials (to ${action}): ${error.message}`;
    case "NotFound":
      return `not found (to ${action}): ${error.message}`;
    case "Other":
      return `cannot ${action}: ${error.message}`;
  }
}
