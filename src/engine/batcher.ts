// Micro-batching: callers add items one by one and await their own result; items that arrive while
// earlier flushes are in flight are flushed together. Under light load a batch is one item and waits
// for nothing (one setImmediate); under heavy load batches grow by themselves — up to a number of items
// and, when the items are weighed, a total weight (bytes: what one round trip may carry).

interface Pending<T, R> {
  item: T;
  weight: number;
  resolve(r: R): void;
  reject(e: unknown): void;
}

export class Batcher<T, R> {
  private buf: Pending<T, R>[] = [];
  private inflight = 0;
  private scheduled = false;

  constructor(
    private flush: (items: T[]) => Promise<R[]>,
    private maxConcurrent = 2,
    private maxBatch = 500,
    /** An item's weight; a batch's items weigh at most `maxWeight` in all (an item heavier goes alone). */
    private weigh: ((item: T) => number) | null = null,
    private maxWeight = Infinity,
    /** A flushed batch keeps its place until this settles (its callers have their results already). */
    private busyUntil?: (results: R[]) => Promise<unknown>,
  ) {}

  add(item: T): Promise<R> {
    const weight = this.weigh ? this.weigh(item) : 0;
    return new Promise<R>((resolve, reject) => {
      this.buf.push({ item, weight, resolve, reject });
      this.kick();
    });
  }

  get pending(): number {
    return this.buf.length + this.inflight;
  }

  private kick(): void {
    if (this.scheduled || !this.buf.length || this.inflight >= this.maxConcurrent) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.run();
    });
  }

  /** How many of the buffered items the next batch takes: at least one. */
  private batchSize(): number {
    const most = Math.min(this.maxBatch, this.buf.length);
    if (!this.weigh) return most;
    let n = 1;
    let weight = this.buf[0].weight;
    while (n < most && weight + this.buf[n].weight <= this.maxWeight) weight += this.buf[n++].weight;
    return n;
  }

  private run(): void {
    while (this.inflight < this.maxConcurrent && this.buf.length) {
      const batch = this.buf.splice(0, this.batchSize());
      this.inflight++;
      this.flush(batch.map((b) => b.item))
        .then(
          (rs) => {
            batch.forEach((b, i) => b.resolve(rs[i]));
            return this.busyUntil?.(rs).catch(() => {});
          },
          (e) => batch.forEach((b) => b.reject(e)),
        )
        .finally(() => {
          this.inflight--;
          this.kick();
        });
    }
  }
}
