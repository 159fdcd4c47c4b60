// plot.js: two tiny canvas charts for the inside view, drawn in a few
// hundred microseconds: a line of values over time, and stacked bars per
// engine step.

/** Sizes a canvas's backing store to its CSS box (sharp on HiDPI screens); returns its 2D context and CSS size. */
export function fitCanvas(canvas, cssHeight) {
  const dpr = Math.min(window.devicePixelRatio || 1, 2);
  const w = Math.max(1, Math.floor(canvas.clientWidth || canvas.parentElement.clientWidth || 300));
  const h = cssHeight;
  if (canvas.width !== Math.floor(w * dpr) || canvas.height !== Math.floor(h * dpr)) {
    canvas.width = Math.floor(w * dpr);
    canvas.height = Math.floor(h * dpr);
    canvas.style.height = `${h}px`;
  }
  // willReadFrequently keeps the canvas in software: drawing it never waits
  // on the GPU, which is busy running the model.
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return { ctx, w, h };
}

// Theme colours, read once (getComputedStyle is not free) and again when
// the light or dark scheme changes.
const colours = new Map();
globalThis.matchMedia?.('(prefers-color-scheme: dark)').addEventListener?.('change', () => colours.clear());

/** Reads a CSS custom property of the document (the colours follow light and dark themes). */
export function cssVar(name, fallback) {
  let v = colours.get(name);
  if (v === undefined) {
    v = getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
    colours.set(name, v);
  }
  return v;
}

/**
 * Draws points [{t, v}] (t in ms) over the last `span` ms as a line with a
 * light fill, the y axis from 0 to the largest value (rounded up), labelled.
 */
export function drawLine(canvas, points, { span = 60000, height = 90, unit = '' } = {}) {
  const { ctx, w, h } = fitCanvas(canvas, height);
  const text = cssVar('--muted', '#5d6678');
  const grid = cssVar('--border', '#d9dde5');
  const line = cssVar('--accent', '#2f6fde');
  ctx.clearRect(0, 0, w, h);
  const now = points.length ? points[points.length - 1].t : performance.now();
  let top = 1;
  for (const p of points) top = Math.max(top, p.v);
  top = niceCeil(top);
  const left = 34;
  const x = (t) => left + ((t - (now - span)) / span) * (w - left - 4);
  const y = (v) => h - 14 - (v / top) * (h - 22);
  ctx.font = '10px system-ui, sans-serif';
  ctx.fillStyle = text;
  ctx.strokeStyle = grid;
  ctx.lineWidth = 1;
  for (const v of [0, top / 2, top]) {
    ctx.beginPath();
    ctx.moveTo(left, y(v) + 0.5);
    ctx.lineTo(w - 4, y(v) + 0.5);
    ctx.stroke();
    ctx.fillText(fmtNum(v), 2, y(v) + 3);
  }
  ctx.fillText(`−${span / 1000} s`, left, h - 2);
  const right = `now${unit ? ' · ' + unit : ''}`;
  ctx.fillText(right, w - 4 - ctx.measureText(right).width, h - 2);
  const visible = points.filter((p) => p.t >= now - span);
  if (visible.length < 2) return;
  ctx.beginPath();
  visible.forEach((p, i) => (i ? ctx.lineTo(x(p.t), y(p.v)) : ctx.moveTo(x(p.t), y(p.v))));
  ctx.strokeStyle = line;
  ctx.lineWidth = 2;
  ctx.stroke();
  ctx.lineTo(x(visible[visible.length - 1].t), y(0));
  ctx.lineTo(x(visible[0].t), y(0));
  ctx.closePath();
  ctx.globalAlpha = 0.15;
  ctx.fillStyle = line;
  ctx.fill();
  ctx.globalAlpha = 1;
}

/**
 * Draws one stacked bar per step, newest on the right: `series` are
 * {key, color} stacked bottom up from each step's fields; steps with
 * `mark` set get a red tick on top (a preemption).
 */
export function drawBars(canvas, steps, series, { height = 90, max = 120 } = {}) {
  const { ctx, w, h } = fitCanvas(canvas, height);
  const text = cssVar('--muted', '#5d6678');
  const grid = cssVar('--border', '#d9dde5');
  ctx.clearRect(0, 0, w, h);
  const shown = steps.slice(-max);
  let top = 1;
  for (const s of shown) top = Math.max(top, series.reduce((a, k) => a + (s[k.key] || 0), 0));
  top = niceCeil(top);
  const left = 34;
  const bw = (w - left - 4) / max;
  const y = (v) => h - 14 - (v / top) * (h - 22);
  ctx.font = '10px system-ui, sans-serif';
  ctx.fillStyle = text;
  ctx.strokeStyle = grid;
  for (const v of [0, top / 2, top]) {
    ctx.beginPath();
    ctx.moveTo(left, y(v) + 0.5);
    ctx.lineTo(w - 4, y(v) + 0.5);
    ctx.stroke();
    ctx.fillText(fmtNum(v), 2, y(v) + 3);
  }
  ctx.fillText(`last ${max} steps`, left, h - 2);
  const x0 = left + (max - shown.length) * bw;
  shown.forEach((s, i) => {
    let base = 0;
    const x = x0 + i * bw;
    for (const k of series) {
      const v = s[k.key] || 0;
      if (!v) continue;
      ctx.fillStyle = k.color;
      ctx.fillRect(x, y(base + v), Math.max(1, bw - 1), y(base) - y(base + v));
      base += v;
    }
    if (s.mark) {
      ctx.fillStyle = cssVar('--danger', '#c62828');
      ctx.fillRect(x, 2, Math.max(2, bw - 1), 5);
    }
  });
}

function niceCeil(v) {
  if (v <= 1) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmtNum(v) {
  return v >= 1000 ? `${(v / 1000).toFixed(v >= 10000 ? 0 : 1)}k` : String(Math.round(v * 10) / 10);
}
