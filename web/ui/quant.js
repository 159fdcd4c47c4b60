// quant.js: the load form's choice of weights (the quantization picker).
//
// When the model field changes, the picker asks the library what the model
// offers (describeChoices: a GGUF repository's .gguf files, or a safetensors
// repository's weights as stored and quantized on load), from the file list
// and config.json only, and shows for each choice the download and the GPU
// memory it needs (weights plus the KV cache) before anything large is
// downloaded. The default is the smallest choice that keeps the model's
// quality (docs/browser.md says which and why); ?quant= in the page's URL
// presets another.

const fmtBytes = (n) => {
  if (n === null || n === undefined || !Number.isFinite(n)) return '?';
  if (n < 1e6) return `${(n / 1e3).toFixed(n < 1e4 ? 1 : 0)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
};

export class QuantPicker {
  /**
   * els: {select, note, model, kv, device}; lib: the nanovllm.js module; hub: the
   * Hub endpoint or undefined; preset: a value from ?quant= (a GGUF file
   * name or quantization, or bf16, q8_0, q4_0), used once.
   */
  constructor(els, lib, { hub, preset } = {}) {
    Object.assign(this, { els, lib, hub, preset });
    this.info = null; // describeChoices' answer for this.model
    this.model = null;
    this.pending = Promise.resolve();
    this.seq = 0;
    let timer = null;
    els.model.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(() => this.refresh(), 400); });
    els.model.addEventListener('change', () => { clearTimeout(timer); this.refresh(); });
    els.kv.addEventListener('input', () => this.render());
    els.device?.addEventListener('change', () => this.render());
    els.select.addEventListener('change', () => this.describe());
  }

  kvBytes() { return (Number(this.els.kv.value) || 256) * 1024 * 1024; }

  // What holds the weights: the GPU, or on the CPU device the wasm memory.
  memoryName() { return this.els.device?.value === 'cpu' ? 'memory' : 'GPU memory'; }

  /** Looks up the choices of the model in the form; resolves when shown. */
  refresh() {
    const model = this.els.model.value.trim();
    if (model === this.model && this.info) return this.pending;
    this.model = model;
    const seq = ++this.seq;
    this.els.select.disabled = true;
    this.els.note.textContent = 'Looking up the model’s files…';
    this.pending = (async () => {
      let info = null, error = null;
      try {
        info = model ? await this.lib.describeChoices(model, { hub: this.hub, kvCacheBytes: this.kvBytes() }) : null;
      } catch (err) {
        error = err;
      }
      if (seq !== this.seq) return; // the model changed meanwhile
      this.info = info;
      this.error = error;
      this.render();
    })();
    return this.pending;
  }

  /** Rebuilds the options (sizes follow the KV cache field). */
  render() {
    const { select } = this.els;
    const info = this.info;
    // Keep a choice made for this model when only the KV field changed.
    const keep = this.rendered === info ? select.value : null;
    this.rendered = info;
    if (!info) {
      const o = new Option('as the model is', '');
      select.replaceChildren(o);
      select.disabled = true;
      this.els.note.textContent = this.error ? `Sizes unknown: ${this.error.message || this.error}` : '';
      return;
    }
    const kv = this.kvBytes();
    select.replaceChildren(...info.choices.map((c) => {
      const gpu = c.weightBytes === null ? null : c.weightBytes + kv;
      // Sizes that are unknown (a server that does not list them) are left
      // out of the label rather than shown as '?'.
      const parts = [c.label];
      if (c.downloadBytes !== null && c.downloadBytes !== undefined) parts.push(`${fmtBytes(c.downloadBytes)} download`);
      if (gpu !== null) parts.push(`${fmtBytes(gpu)} ${this.memoryName()}`);
      const o = new Option(parts.join(' · '), c.value);
      o.dataset.download = c.downloadBytes ?? '';
      o.dataset.gpu = gpu ?? '';
      o.dataset.weights = c.weightBytes ?? '';
      if (c.value === info.defaultValue) o.dataset.default = 'true';
      return o;
    }));
    let pick = keep !== null && info.choices.some((c) => c.value === keep) ? keep : info.defaultValue;
    if (this.preset) {
      const p = this.preset.toLowerCase();
      const hit = info.choices.find((c) => c.value.toLowerCase() === p || (c.quant || '').toLowerCase() === p ||
        (p === 'bf16' && info.kind === 'safetensors' && c.value === ''));
      if (hit) pick = hit.value;
      this.preset = null;
    }
    select.value = pick;
    select.disabled = info.choices.length < 2;
    this.describe();
  }

  describe() {
    const info = this.info;
    const c = info?.choices.find((x) => x.value === this.els.select.value);
    if (!c) return;
    const kv = this.kvBytes();
    const parts = [];
    parts.push(c.downloadBytes === null ? 'download size unknown' : `download ${fmtBytes(c.downloadBytes)}`);
    if (c.weightBytes !== null) parts.push(`needs about ${fmtBytes(c.weightBytes + kv)} of ${this.memoryName()} (weights ${fmtBytes(c.weightBytes)} + KV cache ${fmtBytes(kv)})`);
    const def = info.choices.find((x) => x.value === info.defaultValue);
    this.els.note.textContent = `${capitalise(parts.join(', '))}. Default: ${def?.label ?? info.defaultValue}: ${info.why}.`;
  }

  /**
   * What to pass createEngine for the chosen weights: {model, quantize}.
   * Waits for a lookup in flight.
   */
  async choice(model) {
    await this.pending;
    const info = this.model === model ? this.info : null;
    const value = info ? this.els.select.value : '';
    if (!info || info.kind !== 'gguf') return { model, quantize: value || undefined };
    const desc = this.lib.describeModel(model, { hub: this.hub });
    if (!desc.hub) return { model, quantize: undefined }; // the URL of the file
    const rev = desc.hub.revision !== 'main' ? `@${desc.hub.revision}` : '';
    return { model: `${desc.hub.repo}${rev}:${value}`, quantize: undefined };
  }
}

function capitalise(s) { return s.charAt(0).toUpperCase() + s.slice(1); }
