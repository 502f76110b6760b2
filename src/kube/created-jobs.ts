/**
 * Jobs this operator created that its informer has not delivered yet (client-go's "expectations"). A reconcile
 * that runs between a create and its watch event (queued by the previous Job's completion, say) would otherwise
 * find the Job missing and create it again: an AlreadyExists POST, and a start event posted a second time. Until
 * the informer says anything of a Job, the created object stands in for it; after that the cache is the truth.
 */
import type { JobObject } from "../api/kubernetes-objects.ts";
import { objectKey } from "./informer.ts";

/** How long a created Job stands in for one the informer never delivered (a watch that broke and relisted). */
const standInMs = 60_000;

interface Created {
  readonly job: JobObject;
  readonly at: number;
}

export class CreatedJobs {
  /** Per film key, per job key: the created Job and when. */
  readonly #created = new Map<string, Map<string, Created>>();
  readonly #now: () => number;

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /** Notes a Job the API server just created for the film. */
  created(filmKey: string, job: JobObject): void {
    let jobs = this.#created.get(filmKey);
    if (!jobs) this.#created.set(filmKey, (jobs = new Map<string, Created>()));
    jobs.set(objectKey(job), { job, at: this.#now() });
  }

  /** The informer delivered something of this Job (added, changed, deleted): its cache now knows better. */
  delivered(filmKey: string, job: JobObject): void {
    const jobs = this.#created.get(filmKey);
    jobs?.delete(objectKey(job));
    if (jobs?.size === 0) this.#created.delete(filmKey);
  }

  /** The film's cached Jobs, and the ones created since that the cache does not hold yet. */
  withCreated(filmKey: string, cached: readonly JobObject[]): readonly JobObject[] {
    const jobs = this.#created.get(filmKey);
    if (!jobs) return cached;
    const known = new Set(cached.map(objectKey));
    const now = this.#now();
    const pending: JobObject[] = [];
    for (const [key, { job, at }] of jobs) {
      if (known.has(key) || now - at > standInMs) jobs.delete(key);
      else pending.push(job);
    }
    if (jobs.size === 0) this.#created.delete(filmKey);
    return pending.length === 0 ? cached : [...cached, ...pending];
  }

  /** The film is gone: nothing of it stands in any more. */
  forget(filmKey: string): void {
    this.#created.delete(filmKey);
  }
}
