/**
 * The one exponentially weighted moving average used for every speed estimate: origins' time to
 * first byte and throughput, the average segment size, and peers' throughput.
 */

/** The next average after `sample`; `prev` undefined means no sample yet (the sample is taken). */
export function ewmaNext(prev: number | undefined, sample: number, alpha: number): number {
  return prev === undefined ? sample : prev + alpha * (sample - prev);
}

/** A moving average as an object; undefined until the first sample. */
export class Ewma {
  private v: number | undefined;
  constructor(private readonly alpha: number) {}
  add(sample: number): void {
    this.v = ewmaNext(this.v, sample, this.alpha);
  }
  get value(): number | undefined {
    return this.v;
  }
}
