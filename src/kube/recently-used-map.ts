/**
 * A map of at most `capacity` entries that forgets the least recently used one first: per-film and per-shape
 * memory that must not grow with every film the operator has ever seen.
 */
export class RecentlyUsedMap<K, V> {
  readonly #entries = new Map<K, V>();
  readonly #capacity: number;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity ${String(capacity)}: not >= 1`);
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The value, which now counts as the most recently used. */
  get(key: K): V | undefined {
    const value = this.#entries.get(key);
    if (value === undefined) return undefined;
    // A Map iterates in insertion order: inserting again makes the key the newest.
    this.#entries.delete(key);
    this.#entries.set(key, value);
    return value;
  }

  /** Sets the value as the most recently used, forgetting the least recently used entry beyond the capacity. */
  set(key: K, value: V): void {
    this.#entries.delete(key);
    this.#entries.set(key, value);
    if (this.#entries.size > this.#capacity) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
  }

  delete(key: K): void {
    this.#entries.delete(key);
  }
}
