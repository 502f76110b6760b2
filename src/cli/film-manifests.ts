/** The LongVideo manifests in a YAML file, read as kubectl reads it. Pure: the caller reads the file. */
import { parseAllDocuments } from "yaml";
import { longVideoResource } from "../api/long-video.ts";

/** One LongVideo document and the name it is known by. */
export interface FilmManifest {
  /** metadata.name (or generateName, or the document's position when it has neither). */
  readonly name: string;
  readonly manifest: unknown;
}

export type FilmManifests =
  | { readonly ok: true; readonly films: readonly FilmManifest[] }
  | { readonly ok: false; readonly error: string; readonly invalidYaml: boolean };

function objectName(manifest: unknown, position: number): string {
  const metadata = (manifest as { metadata?: { name?: unknown; generateName?: unknown } } | null)?.metadata;
  const name = metadata?.name ?? metadata?.generateName;
  return typeof name === "string" ? name : `document ${String(position + 1)}`;
}

/** The LongVideos of a YAML text (several documents allowed; other kinds skipped), or why there are none. */
export function filmManifests(text: string, file: string): FilmManifests {
  // YAML 1.1, as kubectl reads it: `yes`, `no`, `on` and `off` are booleans there.
  const documents = parseAllDocuments(text, { version: "1.1" });
  const manifests: unknown[] = [];
  for (const document of Array.isArray(documents) ? documents : [documents]) {
    if (document.errors.length > 0) {
      const error = `${file} is not valid YAML: ${document.errors.map((e) => e.message).join("; ")}`;
      return { ok: false, error, invalidYaml: true };
    }
    const manifest: unknown = document.toJS();
    if (manifest === null || manifest === undefined) continue;
    if ((manifest as { kind?: unknown }).kind !== longVideoResource.kind) continue;
    manifests.push(manifest);
  }
  if (manifests.length === 0)
    return { ok: false, error: `no ${longVideoResource.kind} in ${file}`, invalidYaml: false };
  return {
    ok: true,
    films: manifests.map((manifest, position) => ({ name: objectName(manifest, position), manifest })),
  };
}
