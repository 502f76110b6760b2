/** The film a command acts on, or the error that names why it cannot be read. */
import { CliError } from "./cli-output.ts";
import { clusterErrorMessage } from "./cluster-errors.ts";
import type { ClusterSession } from "./cluster-session.ts";
import type { WatchedFilm } from "./film-progress.ts";

/** Reads the LongVideo `name`; a missing film or a refused read ends the command with a message naming it. */
export async function existingFilm(session: ClusterSession, name: string): Promise<WatchedFilm> {
  const found = await session.film(name);
  if (found.ok) return found.value;
  if (found.error.kind === "NotFound")
    throw new CliError(`no such film: LongVideo ${name} in namespace ${session.namespace}`);
  throw new CliError(clusterErrorMessage(found.error, `read LongVideo ${session.namespace}/${name}`));
}
