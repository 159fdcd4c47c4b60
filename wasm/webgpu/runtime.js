// The JavaScript half of the WebGPU device. Go evaluates this text once, as
// the body of `new Function("device", ...)`, and keeps the object it returns.
//
// Calls between Go and JavaScript cost microseconds each, so the Go side never
// calls a WebGPU method per operation. It records a whole model step as a list
// of commands in a byte array and crosses over once: run() replays the list
// into one command encoder and submits it. Objects (buffers, pipelines, bind
// groups) live in arrays here and Go names them by index.

const bufs = [];   // GPUBuffer
const layouts = []; // GPUBindGroupLayout
const pipes = [];  // GPUComputePipeline
const groups = []; // GPUBindGroup
let stage = new Uint8Array(0); // Go copies the step's bytes here (growStage)
let readback = new Uint8Array(1 << 12); // run() leaves the bytes it read here
let lost = null; // the reason, once the device is lost
let profiling = null; // timestamp queries for the next run(), see profileNext
let lastTimes = null; // promise of the last profiled run's ns per dispatch

device.lost.then((info) => { lost = info.message || info.reason || "device lost"; });

// Command words, 7 u32 each, written by the Go recorder (record.go).
const OP_DISPATCH = 0; // pipeline, group, params offset, x, y, z
const OP_COPY = 1;     // src buffer, src offset, dst buffer, dst offset, bytes

const bindingTypes = ["uniform", "read-only-storage", "storage"];

function errorText(e) {
  return e && e.message ? e.message : String(e);
}

return {
  lost() { return lost; },
  growStage(n) { stage = new Uint8Array(n); return stage; },
  readback() { return readback; },

  // buffer creates a GPUBuffer of size bytes and returns its index.
  buffer(size, usage, label) {
    bufs.push(device.createBuffer({ size, usage, label }));
    return bufs.length - 1;
  },
  destroy(id) {
    if (bufs[id]) { bufs[id].destroy(); bufs[id] = null; }
  },
  // write copies len bytes of src (a Uint8Array) from srcOff into buffer id
  // at dstOff. WebGPU wants offsets and sizes in multiples of 4 bytes: a
  // ragged tail is padded with zeros here, so Go need not copy the data.
  write(id, dstOff, src, srcOff, len) {
    const whole = len & ~3;
    if (whole > 0) device.queue.writeBuffer(bufs[id], dstOff, src, srcOff, whole);
    if (whole < len) {
      const tail = new Uint8Array(4);
      tail.set(src.subarray(srcOff + whole, srcOff + len));
      device.queue.writeBuffer(bufs[id], dstOff + whole, tail);
    }
  },

  // writer streams a weight's bytes into the buffers ids, each holding
  // partBytes (a multiple of 4) except the last. write(src, off, len) takes
  // any Uint8Array chunk, as fetch() delivers them, and keeps the 0-3 bytes
  // that do not fill a 4-byte word for the next call, because WebGPU copies
  // whole words only. close() pads the last word and returns the byte count.
  writer(ids, partBytes) {
    let pos = 0;
    let total = 0;
    const pend = new Uint8Array(4);
    let np = 0;
    const put = (src, off, len) => {
      while (len > 0) {
        const part = Math.floor(pos / partBytes);
        const po = pos - part * partBytes;
        const n = Math.min(len, partBytes - po);
        if (part >= ids.length) throw new Error("weight data longer than its shape");
        device.queue.writeBuffer(bufs[ids[part]], po, src, off, n);
        pos += n; off += n; len -= n;
      }
    };
    return {
      write(src, off, len) {
        total += len;
        const end = off + len;
        while (np > 0 && off < end) {
          pend[np++] = src[off++];
          if (np === 4) { put(pend, 0, 4); np = 0; }
        }
        const whole = (end - off) & ~3;
        if (whole > 0) put(src, off, whole);
        off += whole;
        while (off < end) pend[np++] = src[off++];
      },
      close() {
        if (np > 0) { pend.fill(0, np); put(pend, 0, 4); np = 0; }
        return total;
      },
    };
  },

  // layout creates a bind group layout; kinds[i] is the binding i's kind:
  // 0 uniform with a dynamic offset (the parameters, paramsBytes long),
  // 1 read-only storage, 2 read-write storage, -1 unused.
  layout(kinds, paramsBytes) {
    const entries = [];
    kinds.forEach((k, i) => {
      if (k < 0) return;
      entries.push({
        binding: i,
        visibility: GPUShaderStage.COMPUTE,
        buffer: k === 0 ? { type: "uniform", hasDynamicOffset: true, minBindingSize: paramsBytes } : { type: bindingTypes[k] },
      });
    });
    layouts.push(device.createBindGroupLayout({ entries }));
    return layouts.length - 1;
  },

  // pipeline compiles code and resolves to the pipeline's index, or rejects
  // with the compiler's messages.
  async pipeline(code, entryPoint, layoutId, label) {
    const module = device.createShaderModule({ code, label });
    const info = await module.getCompilationInfo();
    const errs = info.messages.filter((m) => m.type === "error");
    if (errs.length > 0) {
      throw new Error(label + ": " + errs.map((m) => m.lineNum + ":" + m.linePos + " " + m.message).join("; "));
    }
    const layout = device.createPipelineLayout({ bindGroupLayouts: [layouts[layoutId]] });
    try {
      pipes.push(await device.createComputePipelineAsync({ layout, compute: { module, entryPoint }, label }));
    } catch (e) {
      throw new Error(label + ": " + errorText(e));
    }
    return pipes.length - 1;
  },

  // group creates a bind group; spec holds (binding, buffer, offset, size)
  // per binding.
  group(layoutId, spec) {
    const entries = [];
    for (let i = 0; i < spec.length; i += 4) {
      entries.push({ binding: spec[i], resource: { buffer: bufs[spec[i + 1]], offset: spec[i + 2], size: spec[i + 3] } });
    }
    groups.push(device.createBindGroup({ layout: layouts[layoutId], entries }));
    return groups.length - 1;
  },

  // profileNext makes the next run() time each of its (at most n)
  // dispatches with timestamp queries. It needs the "timestamp-query"
  // feature; the times are read with times().
  profileNext(n) {
    profiling = {
      set: device.createQuerySet({ type: "timestamp", count: 2 * n }),
      resolve: device.createBuffer({ size: 16 * n, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC }),
      read: device.createBuffer({ size: 16 * n, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }),
    };
  },
  // times resolves to the nanoseconds of each dispatch of the last
  // profiled run, in order.
  times() { return lastTimes; },

  // run executes one recorded step. stage holds nCmd command words, then
  // pBytes of parameters (for buffer pBuf) and mBytes of metadata (for mBuf).
  // If readBytes > 0 the step ends by copying into the mappable buffer rBuf,
  // and the promise resolves to readback once those bytes are in it.
  run(nCmd, pBytes, mBytes, pBuf, mBuf, rBuf, readBytes) {
    if (lost !== null) return Promise.reject(new Error("webgpu device lost: " + lost));
    const words = new Uint32Array(stage.buffer, 0, nCmd * 7);
    let off = nCmd * 28;
    device.pushErrorScope("out-of-memory");
    device.pushErrorScope("validation");
    if (pBytes > 0) device.queue.writeBuffer(bufs[pBuf], 0, stage, off, pBytes);
    off += pBytes;
    if (mBytes > 0) device.queue.writeBuffer(bufs[mBuf], 0, stage, off, mBytes);
    const enc = device.createCommandEncoder();
    let pass = null;
    let nTimed = 0;
    for (let i = 0; i < nCmd; i++) {
      const o = i * 7;
      if (words[o] === OP_DISPATCH) {
        if (profiling !== null) {
          // One pass per dispatch, timestamped at its start and end.
          if (pass !== null) pass.end();
          pass = enc.beginComputePass({ timestampWrites: { querySet: profiling.set, beginningOfPassWriteIndex: 2 * nTimed, endOfPassWriteIndex: 2 * nTimed + 1 } });
          nTimed++;
        } else if (pass === null) {
          pass = enc.beginComputePass();
        }
        pass.setPipeline(pipes[words[o + 1]]);
        pass.setBindGroup(0, groups[words[o + 2]], words, o + 3, 1);
        pass.dispatchWorkgroups(words[o + 4], words[o + 5], words[o + 6]);
      } else {
        if (pass !== null) { pass.end(); pass = null; }
        enc.copyBufferToBuffer(bufs[words[o + 1]], words[o + 2], bufs[words[o + 3]], words[o + 4], words[o + 5]);
      }
    }
    if (pass !== null) pass.end();
    if (nTimed > 0) {
      enc.resolveQuerySet(profiling.set, 0, 2 * nTimed, profiling.resolve, 0);
      enc.copyBufferToBuffer(profiling.resolve, 0, profiling.read, 0, 16 * nTimed);
    }
    device.queue.submit([enc.finish()]);
    if (nTimed > 0) {
      const p = profiling;
      profiling = null;
      lastTimes = p.read.mapAsync(GPUMapMode.READ, 0, 16 * nTimed).then(() => {
        const t = new BigInt64Array(p.read.getMappedRange(0, 16 * nTimed));
        const ns = new Float64Array(nTimed);
        for (let i = 0; i < nTimed; i++) ns[i] = Number(t[2 * i + 1] - t[2 * i]);
        p.read.unmap();
        p.set.destroy(); p.resolve.destroy(); p.read.destroy();
        return ns;
      });
    }
    const validation = device.popErrorScope();
    const oom = device.popErrorScope();
    const done = readBytes > 0
      ? bufs[rBuf].mapAsync(GPUMapMode.READ, 0, readBytes)
      : device.queue.onSubmittedWorkDone();
    return Promise.all([validation, oom, done]).then(([v, m]) => {
      if (readBytes > 0) {
        if (readback.length < readBytes) readback = new Uint8Array(readBytes);
        readback.set(new Uint8Array(bufs[rBuf].getMappedRange(0, readBytes)));
        bufs[rBuf].unmap();
      }
      if (v) throw new Error("webgpu validation: " + v.message);
      if (m) throw new Error("webgpu out of memory: " + m.message);
      if (lost !== null) throw new Error("webgpu device lost: " + lost);
      return readback;
    }, (e) => {
      throw new Error(lost !== null ? "webgpu device lost: " + lost : errorText(e));
    });
  },
};
