/**
 * Why the operator has no way into its cluster, as a value: which file (or environment) and which field, and what
 * is wrong with it.
 */

/**
 * - `NoConfiguration`: no kubeconfig file and not inside a pod;
 * - `Unreadable`: a file named by the configuration cannot be read;
 * - `Invalid`: a field is missing or malformed;
 * - `Unsupported`: a kubeconfig feature this loader does not implement (the message says which);
 * - `ExecFailed`: an exec credential plugin failed or printed no usable credential.
 */
export type CredentialsErrorKind = "NoConfiguration" | "Unreadable" | "Invalid" | "Unsupported" | "ExecFailed";

export interface CredentialsError {
  readonly kind: CredentialsErrorKind;
  /** The kubeconfig file, the service-account directory, or the environment variable the error is about. */
  readonly source: string;
  /** The field within `source`, kubeconfig style: `users["admin"].user.client-key`; absent for a whole file. */
  readonly field?: string;
  readonly reason: string;
}

export type CredentialsResult<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: CredentialsError };

/** One line for a log or a terminal: source, field, reason. */
export function credentialsErrorMessage(error: CredentialsError): string {
  return `${error.source}${error.field === undefined ? "" : `: ${error.field}`}: ${error.reason}`;
}

/** A failed result; `field` is left out when undefined. */
export function credentialsFailure<T>(
  kind: CredentialsErrorKind,
  source: string,
  field: string | undefined,
  reason: string,
): CredentialsResult<T> {
  return { ok: false, error: { kind, source, ...(field === undefined ? {} : { field }), reason } };
}
