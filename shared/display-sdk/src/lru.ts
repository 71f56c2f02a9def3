/** A set that remembers the `capacity` most recently used keys (Map keeps insertion order). */
export class LruSet {
  private readonly keys = new Map<string, true>();

  constructor(private readonly capacity: number) {}

  /** True when present; a hit counts as a use, so ids still being redelivered stay remembered. */
  has(key: string): boolean {
    if (!this.keys.has(key)) return false;
    this.keys.delete(key);
    this.keys.set(key, true);
    return true;
  }

  add(key: string): void {
    this.keys.delete(key);
    this.keys.set(key, true);
    while (this.keys.size > this.capacity) {
      const oldest = this.keys.keys().next();
      if (oldest.done === true) break;
      this.keys.delete(oldest.value);
    }
  }

  get size(): number {
    return this.keys.size;
  }
}
