// inside.js: the inside view, a live picture of the engine drawn from
// engine.snapshot() (Go's engine.Snapshot, read from the real block manager
// and scheduler): the KV block pool cell by cell, the scheduler's queues,
// each step's batch and the tokens per second. docs/browser.md explains
// what each part shows.

import { cssVar, drawBars, drawLine, fitCanvas } from './plot.js';

const FLASH_MS = 900; // how long a block handed out anew stays highlighted
const MAX_CELLS = 12000; // beyond this, one cell stands for several blocks
const STEP_HISTORY = 240;

/** The inside view over the elements of index.html's "inside" section. */
export class InsideView {
  /**
   * @param {object} els  {map, mapCaption, bars, rate, running, waiting, counters, lastStep}
   * @param {(id: number) => ({label: string, color: string} | null)} owner  who a request id belongs to
   */
  constructor(els, owner) {
    this.els = els;
    this.owner = owner;
    this.snap = null;
    this.steps = [];
    this.rates = []; // {t, v} tokens/s
    this.samples = []; // {t, tokens} for the rate
    this.flash = new Map(); // block id -> time it was handed out anew
    this.lastOwner = null; // Int32Array: the request that last used each block
    this.queueKey = '';
    this.hover = -1;
    this.maxRunning = 0; // the most requests seen running together (for tests)
    els.map.addEventListener('mousemove', (e) => this.onHover(e));
    els.map.addEventListener('mouseleave', () => { this.hover = -1; this.els.mapCaption.textContent = this.caption(); });
  }

  /** Forgets everything (a new engine). */
  reset() {
    this.snap = null;
    this.steps = [];
    this.rates = [];
    this.samples = [];
    this.flash.clear();
    this.lastOwner = null;
    this.queueKey = '';
    this.maxRunning = 0;
  }

  /** Takes a new snapshot and redraws. */
  update(snap) {
    const now = performance.now();
    this.snap = snap;
    this.maxRunning = Math.max(this.maxRunning, snap.running.length);
    const n = snap.num_blocks;
    if (!this.lastOwner || this.lastOwner.length !== n) this.lastOwner = new Int32Array(n).fill(0);
    for (const id of snap.reused) this.flash.set(id, now);
    for (const [id, t] of this.flash) if (now - t > FLASH_MS) this.flash.delete(id);
    this.owners = new Int32Array(n);
    for (const q of [snap.running, snap.waiting]) {
      for (const s of q) {
        for (const b of s.blocks) {
          if (!this.owners[b]) this.owners[b] = s.id;
          this.lastOwner[b] = this.owners[b];
        }
      }
    }
    for (const s of snap.steps) {
      this.steps.push({
        decode: s.batch.decode_tokens, prefill: s.batch.prefill_tokens, mark: s.preemptions > 0,
      });
    }
    if (this.steps.length > STEP_HISTORY) this.steps.splice(0, this.steps.length - STEP_HISTORY);
    // Tokens per second over the last second or so of snapshots.
    this.samples.push({ t: now, tokens: snap.counters.tokens });
    while (this.samples.length > 2 && now - this.samples[1].t > 1000) this.samples.shift();
    const first = this.samples[0];
    if (now > first.t) this.rates.push({ t: now, v: ((snap.counters.tokens - first.tokens) * 1000) / (now - first.t) });
    while (this.rates.length && now - this.rates[0].t > 65000) this.rates.shift();
    this.render(now, false);
  }

  render(now = performance.now(), force = true) {
    if (!this.snap) return;
    // The map is redrawn only when a block changed state or owner, or a
    // flash is fading.
    const key = this.snap.states + this.snap.running.map((q) => q.id + ':' + q.blocks.length).join();
    if (force || key !== this.mapKey || this.flash.size > 0) this.drawMap(now);
    this.mapKey = key;
    drawBars(this.els.bars, this.steps, [
      { key: 'decode', color: cssVar('--decode', '#0072b2') },
      { key: 'prefill', color: cssVar('--prefill', '#e69f00') },
    ], { max: 120 });
    drawLine(this.els.rate, this.rates, { unit: 'tokens/s' });
    this.drawQueues();
    this.drawCounters();
  }

  drawMap(now) {
    const snap = this.snap;
    const n = snap.num_blocks;
    const per = Math.max(1, Math.ceil(n / MAX_CELLS)); // blocks per cell
    const cells = Math.ceil(n / per);
    const width = Math.max(200, this.els.map.clientWidth || 600);
    let size = Math.floor(Math.sqrt((width * 200) / cells));
    size = Math.max(3, Math.min(24, size));
    const cols = Math.max(1, Math.floor(width / size));
    const rows = Math.ceil(cells / cols);
    const { ctx, w, h } = fitCanvas(this.els.map, Math.min(rows * size, 480));
    this.layout = { size, cols, per };
    ctx.clearRect(0, 0, w, h);
    const empty = cssVar('--cell-empty', '#e6e9ef');
    const cached = cssVar('--cell-cached', '#b7c0cf');
    const ring = cssVar('--text', '#1d2330');
    const gap = size >= 8 ? 1 : 0;
    for (let c = 0; c < cells; c++) {
      // A cell of several blocks shows the most telling state among them.
      let best = '.';
      let id = c * per;
      for (let b = c * per; b < Math.min(n, (c + 1) * per); b++) {
        const s = snap.states[b];
        if (rank(s) > rank(best)) { best = s; id = b; }
      }
      const x = (c % cols) * size;
      const y = Math.floor(c / cols) * size;
      if (y >= h) break;
      let fill = empty;
      if (best === 'u' || best === 's') {
        fill = this.owner(this.owners[id])?.color || cssVar('--muted', '#5d6678');
      } else if (best === 'c') {
        const o = this.owner(this.lastOwner[id]);
        fill = o ? mix(o.color, '#ffffff', 0.6) : cached;
      }
      ctx.fillStyle = fill;
      ctx.fillRect(x, y, size - gap, size - gap);
      if (best === 'c' && size >= 6) {
        // Cached-free blocks are hatched: free to take, but still holding
        // a prefix another prompt may reuse.
        ctx.strokeStyle = 'rgba(0,0,0,0.35)';
        ctx.lineWidth = 1;
        ctx.beginPath();
        ctx.moveTo(x, y + size - gap);
        ctx.lineTo(x + size - gap, y);
        ctx.stroke();
      }
      if (best === 's') {
        ctx.strokeStyle = ring;
        ctx.lineWidth = Math.max(1.5, size / 6);
        const k = ctx.lineWidth / 2;
        ctx.strokeRect(x + k, y + k, size - gap - 2 * k, size - gap - 2 * k);
      }
      const t = this.flash.get(id);
      if (t !== undefined && now - t < FLASH_MS) {
        ctx.fillStyle = `rgba(255,255,255,${0.55 * (1 - (now - t) / FLASH_MS)})`;
        ctx.fillRect(x, y, size - gap, size - gap);
        ctx.strokeStyle = cssVar('--danger', '#c62828');
        ctx.lineWidth = 1;
        ctx.strokeRect(x + 0.5, y + 0.5, size - gap - 1, size - gap - 1);
      }
    }
    if (this.hover < 0) this.els.mapCaption.textContent = this.caption();
  }

  caption() {
    const s = this.snap;
    if (!s) return '';
    let used = 0, shared = 0, cached = 0;
    for (const c of s.states) {
      if (c === 'u') used++;
      else if (c === 's') { used++; shared++; }
      else if (c === 'c') cached++;
    }
    const per = this.layout?.per > 1 ? ` (one cell per ${this.layout.per} blocks)` : '';
    return `${s.num_blocks} blocks of ${s.block_size} tokens${per}: ${used} used (${shared} shared), ` +
      `${cached} cached-free, ${s.num_blocks - used - cached} empty.`;
  }

  onHover(e) {
    if (!this.snap || !this.layout) return;
    const r = this.els.map.getBoundingClientRect();
    const { size, cols, per } = this.layout;
    const col = Math.floor((e.clientX - r.left) / size);
    const row = Math.floor((e.clientY - r.top) / size);
    const id = (row * cols + col) * per;
    if (col >= cols || id >= this.snap.num_blocks || id < 0) return;
    this.hover = id;
    const st = { '.': 'empty', u: 'used', s: 'shared', c: 'cached-free' }[this.snap.states[id]];
    const holders = [];
    for (const q of this.snap.running) if (q.blocks.includes(id)) holders.push(this.owner(q.id)?.label || `request ${q.id}`);
    const last = this.snap.states[id] === 'c' && this.owner(this.lastOwner[id]) ? `, last used by ${this.owner(this.lastOwner[id]).label}` : '';
    this.els.mapCaption.textContent = `Block ${id}: ${st}${holders.length ? ', held by ' + holders.join(' and ') : ''}${last}.`;
  }

  drawQueues() {
    const s = this.snap;
    const key = JSON.stringify([s.running.map((q) => [q.id, q.computed, q.len, q.blocks.length]), s.waiting.map((q) => [q.id, q.status])]);
    if (key === this.queueKey) return;
    this.queueKey = key;
    this.els.running.replaceChildren(...(s.running.length ? s.running.map((q) => this.chip(q, s.block_size)) : [none('none')]));
    this.els.waiting.replaceChildren(...(s.waiting.length ? s.waiting.map((q) => this.chip(q, s.block_size)) : [none('none')]));
  }

  chip(q, blockSize) {
    const o = this.owner(q.id);
    const li = document.createElement('li');
    li.className = 'chip';
    const sw = document.createElement('span');
    sw.className = 'swatch';
    sw.style.background = o?.color || cssVar('--muted', '#5d6678');
    const name = document.createElement('strong');
    name.textContent = o?.label || `request ${q.id}`;
    const what = document.createElement('span');
    let phase;
    if (q.status === 'preempted') phase = 'preempted: will recompute';
    else if (q.status === 'waiting') phase = 'waiting for room';
    else if (q.computed < q.prompt) phase = `prefill ${q.computed}/${q.prompt}`;
    else phase = `decoding, ${q.len - q.prompt} generated`;
    what.textContent = ` ${phase}${q.cached ? ` · ${q.cached} reused` : ''}`;
    li.append(sw, name, what);
    if (q.blocks.length) {
      // The block table: logical block i of the sequence lives in physical
      // block blocks[i], anywhere in the pool (that is the paging).
      const t = document.createElement('code');
      t.className = 'table';
      const shown = q.blocks.slice(0, 16).join(' ');
      t.textContent = `table [${shown}${q.blocks.length > 16 ? ` … +${q.blocks.length - 16}` : ''}] · ${q.blocks.length} × ${blockSize} slots`;
      li.append(t);
    }
    return li;
  }

  drawCounters() {
    const s = this.snap;
    const c = s.counters;
    const b = s.last_batch;
    const hit = c.prefix_query_tokens ? Math.round((100 * c.prefix_hit_tokens) / c.prefix_query_tokens) : 0;
    this.els.lastStep.textContent = b.seqs
      ? `Last step: ${b.seqs} sequence${b.seqs > 1 ? 's' : ''} in one batch: ${b.decode_tokens} decode token${b.decode_tokens === 1 ? '' : 's'} + ${b.prefill_tokens} prefill token${b.prefill_tokens === 1 ? '' : 's'}${b.preempted ? ', after a preemption' : ''}.`
      : 'No step yet.';
    this.els.counters.textContent = `${c.steps} steps · ${c.tokens} tokens generated · ${c.requests} requests · ` +
      `${c.preemptions} preemptions · prefix cache: ${c.prefix_hit_tokens} of ${c.prefix_query_tokens} prompt tokens reused (${hit}%) · ` +
      `${c.evicted_blocks} cached blocks evicted`;
  }
}

function rank(s) {
  return { '.': 0, c: 1, u: 2, s: 3 }[s] ?? 0;
}

function none(text) {
  const li = document.createElement('li');
  li.className = 'none';
  li.textContent = text;
  return li;
}

// mix blends two #rrggbb colours: t of b into a.
function mix(a, b, t) {
  const p = (c) => [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16));
  if (!/^#[0-9a-f]{6}$/i.test(a) || !/^#[0-9a-f]{6}$/i.test(b)) return a;
  const [x, y] = [p(a), p(b)];
  return `rgb(${x.map((v, i) => Math.round(v + (y[i] - v) * t)).join(',')})`;
}
