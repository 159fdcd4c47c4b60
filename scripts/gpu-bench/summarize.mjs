// summarize.mjs turns the logs of gpu-bench.sh's runs into gpu-bench.json
// and gpu-bench.md: the benchmark's GPUBENCH lines and the verdicts of the
// fixture tests that ran on the same adapter.
//
//   node summarize.mjs --out DIR [--peak-gbps N] [--meta FILE] LOG...

import fs from 'node:fs';
import path from 'node:path';

function parseArgs(argv) {
  const opts = { logs: [], peak: 0, meta: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out') opts.out = argv[++i];
    else if (a === '--peak-gbps') opts.peak = Number(argv[++i]);
    else if (a === '--meta') opts.meta = argv[++i];
    else opts.logs.push(a);
  }
  if (!opts.out || opts.logs.length === 0) throw new Error('usage: summarize.mjs --out DIR [--peak-gbps N] [--meta FILE] LOG...');
  if (!(opts.peak >= 0)) throw new Error(`--peak-gbps ${opts.peak}: want a number of GB/s`);
  return opts;
}

// parseLog reads one run's output: its GPUBENCH result, if any, and the
// verdict of each top-level test.
function parseLog(file) {
  const text = fs.readFileSync(file, 'utf8');
  const run = { log: path.basename(file), bench: null, tests: [], passed: /^PASS$/m.test(text) && !/^FAIL$/m.test(text) };
  for (const line of text.split('\n')) {
    if (line.startsWith('GPUBENCH ')) run.bench = JSON.parse(line.slice('GPUBENCH '.length));
    const m = /^--- (PASS|FAIL|SKIP): (\w+) \(([\d.]+)s\)/.exec(line);
    if (m) run.tests.push({ name: m[2], status: m[1], seconds: Number(m[3]) });
  }
  const exit = /^exit status (\d+)$/m.exec(text);
  if (exit) run.exitCode = Number(exit[1]);
  return run;
}

const fmt = (x, d = 1) => (x === undefined || x === null || Number.isNaN(x) ? '—' : Number(x).toFixed(d));

function markdown(summary, peak) {
  const out = [];
  out.push('# GPU benchmark (scripts/gpu-bench.sh)', '');
  const meta = summary.meta || {};
  const first = summary.runs.find((r) => r.bench)?.bench;
  out.push(`- adapter: ${first ? first.adapter : 'unknown (no benchmark result)'}`);
  if (first) out.push(`- kernels: ${first.kernels}; timestamp queries: ${first.timestamp_query ? 'yes (GEMV times are GPU times)' : 'no (GEMV times are wall times)'}`);
  for (const [k, v] of Object.entries(meta)) out.push(`- ${k}: ${v}`);
  out.push('');
  for (const run of summary.runs) {
    const b = run.bench;
    if (!b) continue;
    const f = b.flags;
    out.push(`## ${b.weights} weights, ${b.kv_cache_dtype} KV cache`, '');
    out.push(`Decode GEMV, one row, ${f.gemv_rounds} rounds over ${(f.rotate_bytes / 2 ** 20).toFixed(0)} MiB of distinct copies of each weight (so that they come from memory, not the cache):`, '');
    out.push('| GEMV | shape | weight bytes | µs/call (wall) | µs/call (GPU) | weight GB/s |' + (peak ? ' of peak |' : ''));
    out.push('|---|---|---:|---:|---:|---:|' + (peak ? '---:|' : ''));
    for (const g of b.gemv) {
      out.push(`| ${g.name} | ${g.out}x${g.in} | ${g.weight_bytes} | ${fmt(g.wall_us_per_call)} | ${fmt(g.gpu_us_per_call)} | ${fmt(g.weight_gb_per_s, 2)} |` +
        (peak ? ` ${fmt((100 * g.weight_gb_per_s) / peak, 0)}% |` : ''));
    }
    if (b.attention?.length) {
      const base = b.attention.find((a) => a.kv_cache_dtype === 'f32');
      out.push('', `Decode attention, ${f.attn_seqs} sequences of ${f.attn_ctx} cached tokens, Qwen3-0.6B's 16 query and 8 KV heads of 128, by KV cache dtype:`, '');
      out.push('| KV cache | K+V bytes read | µs/call (wall) | µs/call (GPU) | K+V GB/s | time vs f32 |', '|---|---:|---:|---:|---:|---:|');
      for (const a of b.attention) {
        const t = (x) => (x.timer === 'gpu-timestamps' ? x.gpu_us_per_call : x.wall_us_per_call);
        out.push(`| ${a.kv_cache_dtype} | ${a.kv_bytes} | ${fmt(a.wall_us_per_call)} | ${fmt(a.gpu_us_per_call)} | ${fmt(a.kv_gb_per_s, 2)} | ${base ? fmt(t(a) / t(base), 2) + 'x' : '—'} |`);
      }
    }
    const m = b.model;
    out.push('', `Model: the Qwen3-0.6B shape with ${m.layers} of 28 layers, a ${m.vocab}-token vocabulary, random weights (${(m.weight_bytes / 2 ** 20).toFixed(0)} MiB on the GPU, loaded in ${fmt(m.load_seconds)} s); medians of ${f.decode_steps} decode steps and ${f.prefill_reps} prefills:`, '');
    out.push('| metric | value |', '|---|---:|');
    out.push(`| prefill (${m.prefill_tokens} tokens, one sequence) | ${fmt(m.prefill_tok_s)} tokens/s |`);
    out.push(`| decode, batch 1 | ${fmt(m.decode_b1_tok_s)} tokens/s |`);
    out.push(`| decode, batch 8 | ${fmt(m.decode_b8_tok_s)} tokens/s |`);
    out.push(`| weights read per decode step | ${(m.decode_step_weight_bytes / 2 ** 20).toFixed(1)} MiB |`);
    out.push(`| batch-1 decode, weight bytes / step time | ${fmt(m.decode_b1_weight_gb_per_s, 2)} GB/s${peak ? ` (${fmt((100 * m.decode_b1_weight_gb_per_s) / peak, 0)}% of peak)` : ''} |`);
    out.push(`| JS calls per decode step | ${m.js_calls_per_decode_step} |`, '');
  }
  out.push('## Tests on the same adapter', '');
  out.push('| run | test | result | seconds |', '|---|---|---|---:|');
  for (const run of summary.runs) {
    for (const t of run.tests) out.push(`| ${run.log} | ${t.name} | ${t.status} | ${fmt(t.seconds, 2)} |`);
  }
  out.push('', `All runs passed: ${summary.passed ? 'yes' : '**no**'}.`, '');
  out.push('For comparison (issue 15): Qwen3-0.6B Q4_0 in Chrome on an Apple M3 with llama.cpp\'s WebGPU backend decodes at about 57 tokens/s and prefills at about 230 tokens/s.', '');
  return out.join('\n');
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const runs = opts.logs.map(parseLog);
  const meta = opts.meta ? JSON.parse(fs.readFileSync(opts.meta, 'utf8')) : {};
  const summary = { meta, peak_gbps: opts.peak || null, passed: runs.every((r) => r.passed), runs };
  fs.mkdirSync(opts.out, { recursive: true });
  fs.writeFileSync(path.join(opts.out, 'gpu-bench.json'), JSON.stringify(summary, null, 2) + '\n');
  fs.writeFileSync(path.join(opts.out, 'gpu-bench.md'), markdown(summary, opts.peak));
  process.exit(summary.passed ? 0 : 1);
}

main();
