// checkpoint.js: streaming safetensors files to where the device wants them.
//
// A shard is read once, front to back: its header goes to Go, which answers
// with a plan (where each tensor's bytes must land), and the rest of the
// stream follows the plan without touching the Go heap: straight into the
// wasm memory for the CPU device, into GPU buffers (queue.writeBuffer) for
// WebGPU. The bytes come from the network or from the cache alike.

import { errorCodes } from '../errors.js';
import { NanoVLLMError } from './error.js';
import { callGo, unwrap } from './go.js';

/**
 * ShardWriter routes the bytes of one safetensors file, as they arrive, to
 * the destinations Go planned for them. A segment is {begin, end} (absolute
 * file offsets) plus either {ptr}, an address in the wasm memory where the
 * CPU device wants the bytes, or {writer}, the index of a WebGPU weight
 * writer that queues them into GPU buffers. Bytes no segment claims are
 * dropped.
 */
export class ShardWriter {
  constructor(plan, memory, write) {
    this.memory = memory;
    this.write = write; // (writer, Uint8Array) => void, a call into Go
    this.segments = Array.from(plan.segments, (s) => ({
      begin: Number(s.begin), end: Number(s.end),
      ptr: s.ptr === undefined ? null : Number(s.ptr),
      writer: s.writer === undefined ? null : Number(s.writer),
      written: 0,
    })).sort((a, b) => a.begin - b.begin);
    for (let i = 1; i < this.segments.length; i++) {
      if (this.segments[i].begin < this.segments[i - 1].end) {
        throw new NanoVLLMError(errorCodes.INTERNAL, 'weight plan has overlapping segments');
      }
    }
    this.next = 0; // first segment not yet complete
  }

  push(chunk, offset) {
    const end = offset + chunk.byteLength;
    for (let i = this.next; i < this.segments.length; i++) {
      const s = this.segments[i];
      if (s.begin >= end) break;
      const from = Math.max(s.begin, offset);
      const to = Math.min(s.end, end);
      if (from >= to) continue;
      const part = chunk.subarray(from - offset, to - offset);
      if (s.ptr !== null) {
        // Copy straight into Go's memory. Take memory.buffer afresh each
        // time: it is replaced whenever the wasm memory grows.
        new Uint8Array(this.memory.buffer, s.ptr + (from - s.begin), part.byteLength).set(part);
      } else {
        this.write(s.writer, part);
      }
      s.written += part.byteLength;
    }
    while (this.next < this.segments.length) {
      const s = this.segments[this.next];
      if (s.written !== s.end - s.begin) break;
      this.next++;
    }
  }

  finish(name) {
    const missing = this.segments.find((s) => s.written !== s.end - s.begin);
    if (missing) {
      throw new NanoVLLMError(errorCodes.BAD_MODEL, `${name} ended before byte ${missing.end} (truncated download?)`);
    }
  }
}

/**
 * Streams one shard from the downloader into the loader. load counts
 * {weightBytes, goCalls}.
 */
export async function streamShard(go, loader, downloader, shard, memory, load) {
  let header = new Uint8Array(0);
  let headerLen = -1;
  let writer = null;
  let pending = []; // chunks that arrived before the plan
  const onChunk = async (chunk, offset) => {
    if (writer) return writer.push(chunk, offset);
    pending.push({ chunk: chunk.slice(), offset });
    header = concat(header, chunk);
    if (headerLen < 0 && header.byteLength >= 8) {
      const n = new DataView(header.buffer, header.byteOffset, 8).getBigUint64(0, true);
      if (n > 100_000_000n) throw new NanoVLLMError(errorCodes.BAD_MODEL, `${shard}: header length ${n} is implausible (not a safetensors file?)`);
      headerLen = 8 + Number(n);
    }
    if (headerLen >= 0 && header.byteLength >= headerLen) {
      const plan = await callGo(go, () => loader.planShard(shard, header.subarray(0, headerLen)));
      writer = new ShardWriter(plan, memory, (i, part) => { load.goCalls++; unwrap(loader.write(i, part)); });
      for (const p of pending) writer.push(p.chunk, p.offset);
      pending = null;
      header = null;
    }
  };
  const n = await downloader.stream(shard, { required: true, onChunk });
  load.weightBytes += n;
  if (!writer) throw new NanoVLLMError(errorCodes.BAD_MODEL, `${shard} is ${n} bytes, too short for its safetensors header`);
  writer.finish(shard);
  await callGo(go, () => loader.shardDone(shard, n));
}

// A shard named by an index must be a plain file name next to it, by the
// rule of core/safetensors.ValidShardName (a Go test holds the two
// together): otherwise new URL() would resolve a name such as
// "http:attacker.example" or "//host/x.safetensors" to another origin.
const SHARD_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*\.safetensors$/;
const MAX_SHARD_NAME = 255;

/** Whether an index may name this shard. */
export function validShardName(name) {
  return typeof name === 'string' && name.length <= MAX_SHARD_NAME && SHARD_NAME.test(name);
}

function concat(a, b) {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
}
