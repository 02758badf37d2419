/** Small canvas charts drawn by hand: a stacked area chart and sparklines. */

/** One series of a chart. */
export interface Series {
  label: string;
  /** Any CSS colour. */
  color: string;
}

/** Reads a CSS custom property from the document (falls back when unset). */
export function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v === "" ? fallback : v;
}

/** Formats bytes/second compactly ("0", "850 B/s", "1.2 MB/s"). */
export function formatRate(bps: number): string {
  return `${formatBytes(bps)}/s`;
}

/** Formats a byte count compactly. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n <= 0) return "0 B";
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n >= 100 || i === 0 ? n.toFixed(0) : n.toFixed(1)} ${units[i]}`;
}

/** Keeps a canvas' backing store at its CSS size × devicePixelRatio and redraws on resize. */
abstract class CanvasChart {
  protected readonly ctx: CanvasRenderingContext2D;
  protected width = 0;
  protected height = 0;
  private readonly observer: ResizeObserver;

  constructor(protected readonly canvas: HTMLCanvasElement) {
    const ctx = canvas.getContext("2d");
    if (!ctx) throw new Error("2D canvas is not available");
    this.ctx = ctx;
    this.observer = new ResizeObserver(() => this.draw());
    this.observer.observe(canvas);
  }

  private fit(): boolean {
    const rect = this.canvas.getBoundingClientRect();
    const dpr = Math.max(1, Math.min(3, window.devicePixelRatio || 1));
    const w = Math.round(rect.width * dpr);
    const h = Math.round(rect.height * dpr);
    if (w === 0 || h === 0) return false;
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
    this.width = rect.width;
    this.height = rect.height;
    this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return true;
  }

  /** Redraws from the current data. */
  draw(): void {
    if (!this.fit()) return;
    this.ctx.clearRect(0, 0, this.width, this.height);
    this.render();
  }

  protected abstract render(): void;

  /** Stops observing the canvas size. */
  dispose(): void {
    this.observer.disconnect();
  }
}

/** "Nice" upper bound for an axis: 1, 2 or 5 × 10^n, at least `max`. */
export function niceCeil(max: number): number {
  if (!(max > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

/** A "nice" grid step (1, 2, 2.5 or 5 × 10^n) of at least `v`, so 4 steps make round labels. */
export function niceStep(v: number): number {
  if (!(v > 0)) return 256;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** Stacked area chart of per-second values over a sliding window. */
export class StackedAreaChart extends CanvasChart {
  private readonly points: number[][] = [];

  constructor(
    canvas: HTMLCanvasElement,
    private readonly series: readonly Series[],
    /** Points kept (one per sample). */
    private readonly capacity = 120,
    private readonly format: (v: number) => string = formatRate,
  ) {
    super(canvas);
  }

  /** Adds one sample: a value per series, in series order. */
  push(values: readonly number[]): void {
    this.points.push(this.series.map((_, i) => Math.max(0, values[i] ?? 0)));
    if (this.points.length > this.capacity) this.points.shift();
    this.draw();
  }

  /** Forgets every sample. */
  clear(): void {
    this.points.length = 0;
    this.draw();
  }

  /** Number of samples held (tests and summaries). */
  get size(): number {
    return this.points.length;
  }

  protected render(): void {
    const { ctx, width, height, points, capacity } = this;
    const font = cssVar("--font-mono", "ui-monospace, monospace");
    const grid = cssVar("--chart-grid", "#d0d4dc");
    const text = cssVar("--muted", "#5b6472");
    const padL = 64;
    const padR = 8;
    const padT = 8;
    const padB = 20;
    const plotW = Math.max(1, width - padL - padR);
    const plotH = Math.max(1, height - padT - padB);
    const totals = points.map((p) => p.reduce((a, b) => a + b, 0));
    const top = niceStep((Math.max(0, ...totals) * 1.05) / 4) * 4;

    ctx.font = `11px ${font}`;
    ctx.lineWidth = 1;
    ctx.textBaseline = "middle";
    ctx.textAlign = "right";
    for (let i = 0; i <= 4; i++) {
      const y = padT + plotH - (plotH * i) / 4;
      ctx.strokeStyle = grid;
      ctx.beginPath();
      ctx.moveTo(padL, Math.round(y) + 0.5);
      ctx.lineTo(padL + plotW, Math.round(y) + 0.5);
      ctx.stroke();
      ctx.fillStyle = text;
      ctx.fillText(this.format((top * i) / 4), padL - 6, y);
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    const step = capacity > 1 ? plotW / (capacity - 1) : plotW;
    for (const s of [120, 90, 60, 30, 0]) {
      if (s > capacity - 1) continue;
      const x = padL + plotW - s * step;
      ctx.fillText(
        s === 0 ? "now" : `−${s}s`,
        Math.min(Math.max(x, padL + 12), padL + plotW - 12),
        padT + plotH + 5,
      );
    }
    if (points.length < 2) {
      ctx.fillStyle = text;
      ctx.textBaseline = "middle";
      ctx.fillText("waiting for data…", padL + plotW / 2, padT + plotH / 2);
      return;
    }

    // Newest sample at the right edge; each series stacked on the ones before it.
    const x0 = padL + plotW - (points.length - 1) * step;
    const yOf = (v: number): number => padT + plotH - (v / top) * plotH;
    const below = points.map(() => 0);
    for (let s = 0; s < this.series.length; s++) {
      const color = this.series[s]?.color ?? "#888";
      const upper = points.map((p, i) => (below[i] ?? 0) + (p[s] ?? 0));
      if (upper.every((v, i) => v === below[i])) continue;
      ctx.beginPath();
      upper.forEach((v, i) => {
        const x = x0 + i * step;
        if (i === 0) ctx.moveTo(x, yOf(v));
        else ctx.lineTo(x, yOf(v));
      });
      for (let i = points.length - 1; i >= 0; i--) ctx.lineTo(x0 + i * step, yOf(below[i] ?? 0));
      ctx.closePath();
      ctx.globalAlpha = 0.75;
      ctx.fillStyle = color;
      ctx.fill();
      ctx.globalAlpha = 1;
      ctx.beginPath();
      upper.forEach((v, i) => {
        const x = x0 + i * step;
        if (i === 0) ctx.moveTo(x, yOf(v));
        else ctx.lineTo(x, yOf(v));
      });
      ctx.strokeStyle = color;
      ctx.lineWidth = 1.5;
      ctx.stroke();
      upper.forEach((v, i) => (below[i] = v));
    }
  }
}

/** A single-series line with a light fill, for metric tiles. */
export class Sparkline extends CanvasChart {
  private readonly values: (number | null)[] = [];

  constructor(
    canvas: HTMLCanvasElement,
    private color: string,
    /** Fixed maximum (e.g. 1 for ratios); otherwise scaled to the data. */
    private readonly fixedMax?: number,
    private readonly capacity = 120,
  ) {
    super(canvas);
  }

  /** Adds one value; null draws a gap. */
  push(v: number | null): void {
    this.values.push(v !== null && Number.isFinite(v) ? v : null);
    if (this.values.length > this.capacity) this.values.shift();
    this.draw();
  }

  /** Forgets every value. */
  clear(): void {
    this.values.length = 0;
    this.draw();
  }

  /** Changes the line colour (e.g. to signal a bad state). */
  setColor(color: string): void {
    this.color = color;
  }

  protected render(): void {
    const { ctx, width, height, values, capacity } = this;
    const nums = values.filter((v): v is number => v !== null);
    const max = this.fixedMax ?? niceCeil(Math.max(0, ...nums) * 1.1);
    const pad = 2;
    const h = height - pad * 2;
    const step = width / Math.max(1, capacity - 1);
    const x0 = width - (values.length - 1) * step;
    const yOf = (v: number): number => pad + h - (Math.min(v, max) / max) * h;
    ctx.strokeStyle = cssVar("--chart-grid", "#d0d4dc");
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(0, height - 0.5);
    ctx.lineTo(width, height - 0.5);
    ctx.stroke();

    let run: [number, number][] = [];
    const flush = (): void => {
      if (run.length === 0) return;
      const first = run[0];
      const last = run[run.length - 1];
      if (!first || !last) return;
      ctx.beginPath();
      run.forEach(([x, y], i) => (i === 0 ? ctx.moveTo(x, y) : ctx.lineTo(x, y)));
      ctx.strokeStyle = this.color;
      ctx.lineWidth = 1.5;
      ctx.stroke();
      ctx.lineTo(last[0], height);
      ctx.lineTo(first[0], height);
      ctx.closePath();
      ctx.globalAlpha = 0.15;
      ctx.fillStyle = this.color;
      ctx.fill();
      ctx.globalAlpha = 1;
      run = [];
    };
    values.forEach((v, i) => {
      if (v === null) flush();
      else run.push([x0 + i * step, yOf(v)]);
    });
    flush();
  }
}
