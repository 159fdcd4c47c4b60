// fetch.js: downloading a model's files so that what reaches the engine is
// never wrong.
//
// 1. The file list comes first. For a Hub repo it is the tree API
//    ({endpoint}/api/models/{repo}/tree/{revision}), which gives every file's
//    size, its git blob id and, for LFS files (the weights), the SHA-256 of
//    the content. For a plain URL the server may offer the same list at the
//    model's base URL itself (`nanovllm serve --model` does, at /model/);
//    without one, sizes come from Content-Length and nothing can be
//    checked beyond them.
// 2. A file in the cache (store.js) is used only when its entry matches the
//    list, its stored size is the verified size, and, as it streams, its fast
//    checksum (checksum.js) matches; anything else is discarded and fetched.
// 3. A download streams to the engine, to the cache's temporary file and
//    through SHA-256 at once. A connection cut mid-file is resumed with a
//    Range request when the server answers 206 with the right Content-Range,
//    or restarted (the engine is never fed a byte twice). At the end the size
//    and hash are checked: only then is the file committed to the cache.

import { errorCodes } from '../errors.js';
import { NanoVLLMError, aborted } from './error.js';
import { SHA256 } from './sha256.js';
import { FastSum } from './checksum.js';
import { checkQuota } from './store.js';

/** What a failure of the cache's own bytes throws: the load starts over. */
export class CacheCorrupt extends NanoVLLMError {
  constructor(message) {
    super(errorCodes.BAD_MODEL, message);
    this.retryLoad = true;
  }
}

const RETRIES = 3; // attempts per file after the first, for transient failures
const sleep = (ms, signal) => new Promise((resolve, reject) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(t); reject(aborted('loading')); }, { once: true });
});

/**
 * Downloader fetches the files of one model (base: the URL files resolve
 * against; hub: {endpoint, repo, revision} for a Hub repo, else null).
 */
export class Downloader {
  constructor({ base, hub, store, onProgress, signal, retryDelay = 500 }) {
    Object.assign(this, { base, hub, store, onProgress, signal, retryDelay });
    this.list = null; // name -> {size, sha256, oid}, when the server gave one
    this.requests = 0;
    this.offline = false; // the list could not be fetched: cached files only
  }

  url(name) { return new URL(name, this.base).href; }

  /** The file list's entry for name: {size, sha256?, oid?}, or undefined. */
  expected(name) { return this.list?.get(name); }

  /** The listed files' names that keep(name) accepts ([] without a list). */
  listed(keep) { return this.list ? [...this.list.keys()].filter(keep) : []; }

  /** Whether the list says the file exists (true when there is no list). */
  has(name) { return !this.list || this.list.has(name); }

  /** Fetches the file list: the Hub's tree API, or the server's manifest. */
  async fetchList() {
    const url = this.hub
      ? `${this.hub.endpoint}/api/models/${this.hub.repo}/tree/${encodeURIComponent(this.hub.revision)}`
      : this.base;
    let resp;
    try {
      resp = await this.fetchRetrying(url, {}, 'the file list');
    } catch (err) {
      if (err.code === errorCodes.NETWORK && this.store && Object.keys(this.store.manifest.files).length > 0) {
        // Offline: what the cache verified earlier is used as it is.
        console.warn(`nanovllm: ${err.message}; using the cached files`);
        this.offline = true;
        return;
      }
      if (this.hub || err.code !== errorCodes.NOT_FOUND) throw err;
      return; // a plain folder without a manifest
    }
    const type = resp.headers.get('Content-Type') || '';
    if (!this.hub && !type.startsWith('application/json')) { resp.body?.cancel(); return; }
    let entries;
    try {
      entries = await resp.json();
    } catch (err) {
      throw new NanoVLLMError(errorCodes.NETWORK, `${url}: the file list is not JSON (${err.message})`);
    }
    if (!Array.isArray(entries)) {
      if (this.hub) throw new NanoVLLMError(errorCodes.NETWORK, `${url}: the file list is not an array`);
      return;
    }
    this.list = new Map();
    for (const e of entries) {
      if (!e || e.type !== 'file' || typeof e.path !== 'string') continue;
      const lfs = e.lfs && typeof e.lfs.oid === 'string' ? e.lfs : null;
      const size = Number(lfs ? lfs.size : e.size);
      this.list.set(e.path, {
        size: Number.isSafeInteger(size) && size >= 0 ? size : undefined,
        sha256: lfs ? lfs.oid.replace(/^sha256:/, '').toLowerCase() : undefined,
        oid: !lfs && typeof e.oid === 'string' ? e.oid.toLowerCase() : undefined,
      });
    }
  }

  /**
   * Refuses, before anything is downloaded, a set of files that will not
   * fit in the storage quota. Sizes come from the file list; files already
   * cached and verified count nothing.
   */
  async checkQuota(names, what) {
    if (!this.store || !this.list) return;
    let needed = 0;
    for (const n of names) {
      const exp = this.expected(n);
      if (!exp || exp.size === undefined) continue;
      if (this.cachedMatches(n, exp)) continue;
      needed += exp.size;
    }
    await checkQuota(needed, what);
  }

  cachedMatches(name, exp) {
    const e = this.store?.entry(name);
    if (!e) return false;
    if (!exp) return true;
    return e.size === exp.size && (!exp.sha256 || e.sha256 === exp.sha256) && (!exp.oid || e.oid === exp.oid);
  }

  progress(p) { this.onProgress?.(p); }

  // fetchRetrying GETs url, retrying network failures and 5xx/429 answers
  // with a growing delay; 401, 403 and 404 are explained and not retried.
  async fetchRetrying(url, headers, what) {
    for (let attempt = 0; ; attempt++) {
      if (this.signal?.aborted) throw aborted('loading');
      let resp;
      try {
        this.requests++;
        resp = await fetch(url, { signal: this.signal, headers, cache: 'no-store' });
      } catch (err) {
        if (err.name === 'AbortError' || this.signal?.aborted) throw aborted('loading', err);
        if (attempt < RETRIES) { await sleep(this.retryDelay * 2 ** attempt, this.signal); continue; }
        throw new NanoVLLMError(errorCodes.NETWORK,
          `could not fetch ${url}: ${err.message} (offline, or the server does not allow cross-origin requests?); tried ${attempt + 1} times`, { cause: err });
      }
      if (resp.ok) return resp;
      resp.body?.cancel().catch(() => {});
      if (resp.status === 401 || resp.status === 403) {
        throw new NanoVLLMError(errorCodes.NOT_FOUND,
          `${url}: HTTP ${resp.status}: ${what} needs credentials (a gated or private repository, which this page cannot log in to; ` +
          `accept its terms on the Hub and serve it locally with 'nanovllm serve --model')`);
      }
      if (resp.status === 404) {
        throw new NanoVLLMError(errorCodes.NOT_FOUND, this.hub
          ? `${url}: HTTP 404: ${what} does not exist (check the repo id "${this.hub.repo}" and revision "${this.hub.revision}"; a private repository also answers 404)`
          : `${url}: HTTP 404: ${what} does not exist (not found)`);
      }
      if ((resp.status >= 500 || resp.status === 429) && attempt < RETRIES) {
        await sleep(this.retryDelay * 2 ** attempt, this.signal);
        continue;
      }
      throw new NanoVLLMError(errorCodes.NETWORK, `fetching ${url} failed: HTTP ${resp.status} ${resp.statusText}`);
    }
  }

  /**
   * Streams one file to onChunk(bytes, offset), from the cache or the
   * network, checked as described at the top. Resolves with the byte count,
   * or null for a missing optional file.
   */
  async stream(name, { required = true, onChunk }) {
    const exp = this.expected(name);
    if (this.list && !exp) {
      if (!required) return null;
      throw new NanoVLLMError(errorCodes.NOT_FOUND, `${this.url(name)}: the model has no ${name} (not in its file list)`);
    }
    if (this.store) {
      if (this.store.entry(name) && !this.cachedMatches(name, exp)) await this.store.remove(name); // a new revision
      const file = await this.store.file(name);
      if (file) return this.streamCached(name, file, onChunk);
    }
    return this.download(name, exp, required, onChunk);
  }

  async streamCached(name, file, onChunk) {
    const entry = this.store.entry(name);
    const sum = new FastSum();
    const reader = file.stream().getReader();
    let loaded = 0;
    const t0 = performance.now();
    let last = 0;
    const verified = entry.verified !== false; // false: a plain URL gave no hash to check
    this.progress({ phase: 'download', file: name, loaded: 0, total: file.size, cached: true, verified, bytesPerSecond: 0, secondsLeft: null });
    for (;;) {
      if (this.signal?.aborted) { reader.cancel().catch(() => {}); throw aborted('loading'); }
      const { done, value } = await reader.read();
      if (done) break;
      sum.update(value);
      await onChunk(value, loaded);
      loaded += value.byteLength;
      const now = performance.now();
      if (now - last > 100) { last = now; this.progress(rate(name, loaded, file.size, now - t0, true, verified)); }
    }
    if (loaded !== entry.size || sum.hex() !== entry.sum) {
      await this.store.remove(name);
      throw new CacheCorrupt(`the cached ${name} changed after it was verified (checksum ${sum.hex()}, recorded ${entry.sum}): discarded, it will be fetched again`);
    }
    this.progress(rate(name, loaded, file.size, performance.now() - t0, true, verified));
    return loaded;
  }

  async download(name, exp, required, onChunk) {
    const url = this.url(name);
    const writer = this.store ? await this.store.begin(name, exp) : null;
    try {
      const n = await this.downloadTo(name, url, exp, required, onChunk, writer);
      if (n === null) await writer?.discard();
      return n;
    } catch (err) {
      // Bytes received before a cut or an abort were good as far as they
      // go: keep them for the next load, which hashes them again.
      await writer?.discard({ keep: err.code === errorCodes.ABORTED || err.code === errorCodes.NETWORK });
      throw err;
    }
  }

  async downloadTo(name, url, exp, required, onChunk, writer) {
    let sha = new SHA256(), sum = new FastSum(), parts = exp?.oid ? [] : null;
    let loaded = 0; // bytes of the file received (and hashed) so far
    let delivered = 0; // bytes handed to onChunk: never again after a restart
    let total = exp?.size;
    let attempt = 0;
    let encoded = false;
    const t0 = performance.now();
    let last = 0;
    const report = () => this.progress(rate(name, loaded, total, performance.now() - t0, false));
    if (writer?.have > 0) {
      // An earlier load left the first bytes: through the hash and to the
      // engine again, then the network for the rest.
      console.info(`nanovllm: ${name}: resuming after the ${writer.have} bytes an earlier load left`);
      for await (const chunk of writer.resumed()) {
        sha.update(chunk); sum.update(chunk); parts?.push(chunk);
        await onChunk(chunk, loaded);
        loaded += chunk.byteLength;
      }
      delivered = loaded;
    }
    for (;;) {
      if (loaded > 0 && loaded === total) break; // an earlier load got it all
      const headers = loaded > 0 ? { Range: `bytes=${loaded}-` } : {};
      let resp;
      try {
        resp = await this.fetchRetrying(url, headers, name);
      } catch (err) {
        if (err.code === errorCodes.NOT_FOUND && !required && loaded === 0) return null;
        throw err;
      }
      if (loaded > 0) {
        const cr = parseContentRange(resp.headers.get('Content-Range'));
        if (resp.status === 206 && cr && cr.start === loaded && (total === undefined || cr.total === total)) {
          // resumed where the connection was cut
        } else if (resp.status === 200) {
          // The server ignores Range: start over, hashing from byte 0.
          sha = new SHA256(); sum = new FastSum(); if (parts) parts = [];
          loaded = 0;
          writer?.truncate(0);
        } else {
          resp.body?.cancel().catch(() => {});
          throw new NanoVLLMError(errorCodes.NETWORK, `${url}: asked to resume at byte ${loaded}, the server answered ${resp.status} ${resp.headers.get('Content-Range') || ''}`);
        }
      } else {
        encoded = (resp.headers.get('Content-Encoding') || 'identity') !== 'identity';
        const len = Number(resp.headers.get('Content-Length'));
        if (total === undefined && !encoded && len > 0) total = len;
        if (exp === undefined && this.store && total !== undefined) await checkQuota(total, name);
      }
      if (loaded === 0) report();
      const reader = resp.body.getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          sha.update(value);
          sum.update(value);
          parts?.push(value);
          writer?.write(value, loaded);
          const end = loaded + value.byteLength;
          if (end > delivered) {
            await onChunk(delivered > loaded ? value.subarray(delivered - loaded) : value, delivered);
            delivered = end;
          }
          loaded = end;
          const now = performance.now();
          if (now - last > 100) { last = now; report(); }
        }
      } catch (err) {
        reader.cancel().catch(() => {});
        if (err instanceof NanoVLLMError) throw err;
        if (err.name === 'AbortError' || this.signal?.aborted) throw aborted('loading', err);
        if (attempt++ < RETRIES) {
          console.warn(`nanovllm: ${name}: connection lost after ${loaded} bytes (${err.message}); resuming`);
          await sleep(this.retryDelay * 2 ** (attempt - 1), this.signal);
          if (encoded) { sha = new SHA256(); sum = new FastSum(); if (parts) parts = []; loaded = 0; writer?.truncate(0); }
          continue;
        }
        throw new NanoVLLMError(errorCodes.NETWORK, `downloading ${url} failed after ${loaded} bytes, ${attempt} tries: ${err.message}`, { cause: err });
      }
      if (total !== undefined && loaded < total && !encoded) {
        if (attempt++ < RETRIES) {
          console.warn(`nanovllm: ${name}: the body ended at ${loaded} of ${total} bytes; resuming`);
          continue;
        }
        throw new NanoVLLMError(errorCodes.NETWORK, `${url}: got ${loaded} bytes, expected ${total} (connection cut?)`);
      }
      break;
    }
    report();
    this.progress({ phase: 'verify', file: name });
    if (exp?.size !== undefined && loaded !== exp.size) {
      throw new NanoVLLMError(errorCodes.BAD_MODEL, `${url}: got ${loaded} bytes, the file list says ${exp.size}: discarded`);
    }
    const sha256 = sha.hex();
    if (exp?.sha256 && sha256 !== exp.sha256) {
      throw new NanoVLLMError(errorCodes.BAD_MODEL, `${url}: SHA-256 ${sha256}, the file list says ${exp.sha256}: the download is corrupt and was discarded`);
    }
    let oid;
    if (parts) {
      oid = await gitBlobID(parts, loaded);
      if (oid !== exp.oid) {
        throw new NanoVLLMError(errorCodes.BAD_MODEL, `${url}: git blob id ${oid}, the file list says ${exp.oid}: the download is corrupt and was discarded`);
      }
    }
    const verified = !!(exp?.sha256 || exp?.oid);
    this.progress({ phase: 'download', file: name, loaded, total: loaded, cached: false, verified, bytesPerSecond: 0, secondsLeft: 0 });
    await writer?.commit({ size: loaded, sha256, oid: exp?.oid, sum: sum.hex(), verified });
    return loaded;
  }

  /** A whole (small) file as one Uint8Array, or null when optional and missing. */
  async bytes(name, { required = true } = {}) {
    const parts = [];
    const n = await this.stream(name, { required, onChunk: (c) => { parts.push(c.slice()); } });
    if (n === null) return null;
    return join(parts, n);
  }
}

function rate(file, loaded, total, ms, cached, verified = false) {
  const bytesPerSecond = ms > 0 ? loaded / (ms / 1000) : 0;
  const secondsLeft = total !== undefined && bytesPerSecond > 0 ? Math.max(0, (total - loaded) / bytesPerSecond) : null;
  return { phase: 'download', file, loaded, total: total ?? 0, cached, verified, bytesPerSecond, secondsLeft };
}

function parseContentRange(v) {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(v || '');
  if (!m) return null;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

function join(parts, n) {
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) { out.set(p, off); off += p.byteLength; }
  return out;
}

/** Git's id of a blob: SHA-1 of "blob <size>\0" followed by the content. */
export async function gitBlobID(parts, size) {
  const head = new TextEncoder().encode(`blob ${size}\0`);
  const all = join([head, ...parts], head.byteLength + size);
  const digest = await crypto.subtle.digest('SHA-1', all);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}
