// chart.js — the loss chart, drawn on a canvas by the page itself (no
// library): training loss as a blue line, held-out evaluation loss as
// orange points joined by a line, step on x, loss on y, a legend, and a
// text alternative (the latest losses in words) in a separate element.
//
//   const chart = new LossChart(container, textElement);
//   chart.reset(history, {withEval});   // {losses: [...], evals: [{step, loss}]} or nothing
//   chart.add(progress);    // {step, loss, evalLoss?}

const COLORS = { train: "#2458d6", eval: "#e07b00", axis: "#5a6375", grid: "#e6e9ef", text: "#1d2330" };
const HEIGHT = 240;

/** niceStep returns a round tick spacing (1, 2 or 5 × 10^k) for about n ticks over span. */
export function niceStep(span, n) {
  if (!(span > 0)) return 1;
  const raw = span / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/** LossChart draws training and evaluation loss by step. */
export class LossChart {
  /** @param {HTMLElement} container  @param {HTMLElement} textEl the text alternative */
  constructor(container, textEl) {
    this.container = container;
    this.textEl = textEl;
    this.canvas = document.createElement("canvas");
    this.canvas.setAttribute("aria-hidden", "true"); // textEl says it in words
    container.append(this.canvas);
    this.steps = [];
    this.train = [];
    this.evals = []; // [step, loss]
    this.pending = 0;
    new ResizeObserver(() => this.draw()).observe(container);
    this.reset();
  }

  /** points is the number of training steps shown. */
  get points() {
    return this.steps.length;
  }

  /**
   * reset shows history ({losses, evals}) or nothing; withEval false says
   * that the run has no held-out loss (the legend leaves it out).
   */
  reset(history, { withEval = true } = {}) {
    this.withEval = withEval;
    this.steps = [];
    this.train = [];
    this.evals = [];
    (history?.losses ?? []).forEach((l, i) => {
      this.steps.push(i + 1);
      this.train.push(l);
    });
    for (const e of history?.evals ?? []) this.evals.push([e.step, e.loss]);
    this.changed();
  }

  /** add appends one progress report {step, loss, evalLoss?}. */
  add(p) {
    this.steps.push(p.step);
    this.train.push(p.loss);
    if (p.evalLoss !== null && p.evalLoss !== undefined) this.evals.push([p.step, p.evalLoss]);
    this.changed();
  }

  changed() {
    this.describe();
    // one drawing per frame however fast progress comes
    if (!this.pending) this.pending = requestAnimationFrame(() => {
      this.pending = 0;
      this.draw();
    });
  }

  /** describe writes the text alternative. */
  describe() {
    const n = this.steps.length;
    if (n === 0) {
      this.textEl.textContent = "No losses yet: the chart fills in while training runs.";
      return;
    }
    const first = this.train[0];
    const last = this.train[n - 1];
    let s = `Step ${this.steps[n - 1]}: training loss ${fix(last)} (it started at ${fix(first)}).`;
    const ev = this.evals.at(-1);
    if (ev) s += ` Held-out loss ${fix(ev[1])} at step ${ev[0]}.`;
    else if (!this.withEval) s += " No held-out loss: the text is too short to set any aside.";
    this.textEl.textContent = s;
  }

  /** draw paints the chart at the container's width. */
  draw() {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(260, this.container.clientWidth || 600);
    const h = HEIGHT;
    const c = this.canvas;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
      c.style.width = `${w}px`;
      c.style.height = `${h}px`;
    }
    const g = c.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    g.font = "12px system-ui, sans-serif";
    const box = { l: 52, r: w - 12, t: 26, b: h - 38 };

    const ys = [...this.train, ...this.evals.map((e) => e[1])].filter(Number.isFinite);
    let lo = ys.length ? Math.min(...ys) : 0;
    let hi = ys.length ? Math.max(...ys) : 1;
    if (hi - lo < 1e-6) {
      lo -= 0.5;
      hi += 0.5;
    }
    const pad = (hi - lo) * 0.06;
    lo = Math.max(0, lo - pad);
    hi += pad;
    const maxStep = Math.max(1, this.steps.at(-1) ?? 1, this.evals.at(-1)?.[0] ?? 1);
    const x = (s) => box.l + ((s - (maxStep > 1 ? 1 : 0)) / Math.max(1, maxStep - 1)) * (box.r - box.l);
    const y = (v) => box.b - ((v - lo) / (hi - lo)) * (box.b - box.t);

    // grid, ticks and labels
    g.strokeStyle = COLORS.grid;
    g.fillStyle = COLORS.axis;
    g.lineWidth = 1;
    g.textAlign = "right";
    g.textBaseline = "middle";
    const ystep = niceStep(hi - lo, 5);
    for (let v = Math.ceil(lo / ystep) * ystep; v <= hi + 1e-9; v += ystep) {
      line(g, box.l, y(v), box.r, y(v));
      g.fillText(tick(v, ystep), box.l - 6, y(v));
    }
    g.textAlign = "center";
    g.textBaseline = "top";
    const xstep = Math.max(1, niceStep(maxStep - 1, Math.max(2, Math.floor((box.r - box.l) / 70))));
    let lastTick = 1;
    for (let s = 1; s <= maxStep; s += xstep) {
      g.fillText(String(Math.round(s)), x(s), box.b + 5);
      lastTick = s;
    }
    // the last step too, where it does not crowd the tick before it
    if (maxStep > 1 && x(maxStep) - x(lastTick) > 30) g.fillText(String(maxStep), x(maxStep), box.b + 5);
    g.strokeStyle = COLORS.axis;
    line(g, box.l, box.t, box.l, box.b);
    line(g, box.l, box.b, box.r, box.b);
    g.fillText("step", (box.l + box.r) / 2, box.b + 21);
    g.save();
    g.translate(12, (box.t + box.b) / 2);
    g.rotate(-Math.PI / 2);
    g.textBaseline = "middle";
    g.fillText("loss (nats/token)", 0, 0);
    g.restore();

    // the two series
    series(g, this.steps.map((s, i) => [x(s), y(this.train[i])]), COLORS.train, 2, false);
    series(g, this.evals.map(([s, l]) => [x(s), y(l)]), COLORS.eval, 2, true);

    // legend
    g.textAlign = "left";
    g.textBaseline = "middle";
    let lx = box.l + 4;
    const legend = [["train", COLORS.train]];
    if (this.withEval) legend.push(["eval (held out)", COLORS.eval]);
    for (const [name, color] of legend) {
      g.fillStyle = color;
      g.fillRect(lx, 8, 16, 4);
      g.fillStyle = COLORS.text;
      g.fillText(name, lx + 21, 10);
      lx += 30 + g.measureText(name).width;
    }
  }
}

function fix(v) {
  return Number.isFinite(v) ? v.toFixed(3) : String(v);
}

function tick(v, step) {
  const d = Math.max(0, -Math.floor(Math.log10(step)));
  return v.toFixed(Math.min(6, d));
}

function line(g, x0, y0, x1, y1) {
  g.beginPath();
  g.moveTo(x0, y0);
  g.lineTo(x1, y1);
  g.stroke();
}

// series draws a polyline through pts (gaps where a value is not finite),
// with dots when dots is set or when there is a single point.
function series(g, pts, color, width, dots) {
  g.strokeStyle = color;
  g.fillStyle = color;
  g.lineWidth = width;
  g.beginPath();
  let pen = false;
  for (const [px, py] of pts) {
    if (!Number.isFinite(py)) {
      pen = false;
      continue;
    }
    if (pen) g.lineTo(px, py);
    else g.moveTo(px, py);
    pen = true;
  }
  g.stroke();
  if (dots || pts.length === 1) {
    for (const [px, py] of pts) {
      if (!Number.isFinite(py)) continue;
      g.beginPath();
      g.arc(px, py, 3.5, 0, 2 * Math.PI);
      g.fill();
    }
  }
}
