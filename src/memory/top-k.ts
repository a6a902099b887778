/**
 * Keeps the k best (highest score) entries seen, in a fixed-size sorted buffer: O(n log k) worst case but
 * O(n) in practice since most candidates lose to the current k-th best on one comparison.
 */
export class TopK {
  readonly scores: Float64Array;
  readonly keys: Int32Array;
  size = 0;

  constructor(readonly k: number) {
    this.scores = new Float64Array(k);
    this.keys = new Int32Array(k);
  }

  /** Lowest score still kept, or -Infinity while not full. */
  get threshold(): number {
    return this.size < this.k ? -Infinity : this.scores[this.k - 1]!;
  }

  push(key: number, score: number): void {
    if (this.k === 0 || (this.size === this.k && score <= this.scores[this.k - 1]!)) return;
    let i = this.size < this.k ? this.size++ : this.k - 1;
    while (i > 0 && this.scores[i - 1]! < score) {
      this.scores[i] = this.scores[i - 1]!;
      this.keys[i] = this.keys[i - 1]!;
      i--;
    }
    this.scores[i] = score;
    this.keys[i] = key;
  }

  /** Best first. */
  entries(): { key: number; score: number }[] {
    const out: { key: number; score: number }[] = [];
    for (let i = 0; i < this.size; i++) out.push({ key: this.keys[i]!, score: this.scores[i]! });
    return out;
  }
}
