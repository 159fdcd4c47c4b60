// store.js: the model cache, in the Origin Private File System (OPFS).
//
// Layout: nanovllm-models/<model key>/ holds one model's files under their
// own names plus manifest.json, which records for each committed file its
// size, the SHA-256 (and git blob id) it was verified against, and a fast
// checksum (checksum.js) of the same bytes. A download is written to
// "<name>.part" and renamed to "<name>" only after it passed its check, so a
// file under its real name has always been verified; a ".part" file left by
// a closed tab is never read and is overwritten by the next download.
//
// In a worker, files are written through createSyncAccessHandle (synchronous
// writes at an offset, the fastest OPFS path); on a page's main thread, where
// that call does not exist, through createWritable.

import { errorCodes } from '../errors.js';
import { NanoVLLMError } from './error.js';
import { describeModel } from './model.js';

const ROOT = 'nanovllm-models';
const MANIFEST = 'manifest.json';

/** Whether this browser offers OPFS here (secure contexts only). */
export function hasOPFS() {
  return typeof navigator !== 'undefined' && !!navigator.storage?.getDirectory;
}

async function rootDir(create) {
  const opfs = await navigator.storage.getDirectory();
  return opfs.getDirectoryHandle(ROOT, { create });
}

/** The directory name a model key is stored under. */
function dirName(key) {
  return encodeURIComponent(key);
}

async function readJSON(dir, name) {
  try {
    const f = await (await dir.getFileHandle(name)).getFile();
    return JSON.parse(await f.text());
  } catch {
    return null;
  }
}

// writeWhole replaces a file's contents with bytes.
async function writeWhole(dir, name, bytes) {
  const h = await dir.getFileHandle(name, { create: true });
  if (h.createWritable) {
    const w = await h.createWritable();
    await w.write(bytes);
    await w.close();
    return;
  }
  const s = await h.createSyncAccessHandle();
  try {
    s.truncate(0);
    s.write(bytes, { at: 0 });
    s.flush();
  } finally {
    s.close();
  }
}

/**
 * The cached files of one model. open() returns null where the browser has
 * no OPFS (then nothing is cached and every load downloads).
 */
export class ModelStore {
  static async open(key, meta) {
    if (!hasOPFS()) return null;
    let dir;
    try {
      dir = await (await rootDir(true)).getDirectoryHandle(dirName(key), { create: true });
    } catch (err) {
      console.warn(`nanovllm: no model cache (${err.message})`);
      return null;
    }
    const manifest = (await readJSON(dir, MANIFEST)) || { files: {} };
    Object.assign(manifest, meta);
    manifest.files ||= {};
    return new ModelStore(dir, manifest);
  }

  constructor(dir, manifest) {
    this.dir = dir;
    this.manifest = manifest;
  }

  /** The committed entry {size, sha256, oid, sum} of a file, or undefined. */
  entry(name) {
    return this.manifest.files[name];
  }

  /**
   * The cached File for name, or null. A file whose stored size is not
   * the recorded one (truncated behind our back) is deleted and reported
   * as missing.
   */
  async file(name) {
    const e = this.entry(name);
    if (!e) return null;
    try {
      const f = await (await this.dir.getFileHandle(name)).getFile();
      if (f.size === e.size) return f;
      console.warn(`nanovllm: cached ${name} is ${f.size} bytes, ${e.size} were verified: fetching it again`);
    } catch { /* gone */ }
    await this.remove(name);
    return null;
  }

  /** Forgets a file and deletes it. */
  async remove(name) {
    delete this.manifest.files[name];
    await this.save();
    try { await this.dir.removeEntry(name); } catch { /* not there */ }
  }

  async save() {
    this.manifest.updated = new Date().toISOString();
    await writeWhole(this.dir, MANIFEST, new TextEncoder().encode(JSON.stringify(this.manifest)));
  }

  /**
   * Starts writing name under a temporary name; see PartWriter. With
   * expect ({size, sha256}: what the file list says the file is), a
   * ".part" left by an earlier load of the same file is kept, and
   * writer.have says how many of its bytes are there to resume after.
   */
  async begin(name, expect) {
    const part = `${name}.part`;
    const handle = await this.dir.getFileHandle(part, { create: true });
    const was = this.manifest.partial?.[name];
    const resume = !!(expect?.sha256 && was && was.sha256 === expect.sha256 && was.size === expect.size);
    let prefix = null; // a File of the bytes already there (the page's path)
    let sync = null, writable = null, have = 0;
    if (handle.createSyncAccessHandle) {
      try { sync = await handle.createSyncAccessHandle(); } catch { sync = null; }
    }
    if (sync) {
      have = resume ? Math.min(sync.getSize(), expect.size) : 0;
      sync.truncate(have);
    } else {
      if (resume) {
        prefix = await handle.getFile();
        have = Math.min(prefix.size, expect.size);
      }
      writable = await handle.createWritable({ keepExistingData: have > 0 });
      if (have > 0) await writable.truncate(have);
    }
    this.manifest.partial ||= {};
    if (expect?.sha256) this.manifest.partial[name] = { size: expect.size, sha256: expect.sha256 };
    else delete this.manifest.partial[name];
    await this.save();
    return new PartWriter(this, name, part, handle, sync, writable, have, prefix);
  }

  async commit(name, part, handle, entry) {
    // The file is complete and verified: give it its real name, then
    // record it. A crash between the two leaves an unrecorded file, which
    // is never read and is overwritten by the next download.
    try { await this.dir.removeEntry(name); } catch { /* not there */ }
    if (handle.move) {
      await handle.move(name);
    } else {
      const data = await (await handle.getFile()).arrayBuffer();
      await writeWhole(this.dir, name, new Uint8Array(data));
      await this.dir.removeEntry(part);
    }
    this.manifest.files[name] = entry;
    if (this.manifest.partial) delete this.manifest.partial[name];
    await this.save();
  }
}

/** A download being written to "<name>.part". */
class PartWriter {
  constructor(store, name, part, handle, sync, writable, have, prefix) {
    Object.assign(this, { store, name, part, handle, sync, writable, have, prefix });
    this.pending = Promise.resolve();
  }

  /** The bytes an earlier load left (the first `have`), chunk by chunk. */
  async *resumed() {
    const step = 1 << 20;
    for (let at = 0; at < this.have; at += step) {
      const n = Math.min(step, this.have - at);
      if (this.sync) {
        const buf = new Uint8Array(n);
        this.sync.read(buf, { at });
        yield buf;
      } else {
        yield new Uint8Array(await this.prefix.slice(at, at + n).arrayBuffer());
      }
    }
  }

  /** Writes chunk at byte offset at (the same offset again after a restart). */
  write(chunk, at) {
    if (this.sync) {
      this.sync.write(chunk, { at });
      return;
    }
    const data = chunk.slice(); // the caller may reuse its buffer
    this.pending = this.pending.then(() => this.writable.write({ type: 'write', position: at, data }));
  }

  /** Drops what was written past size (a restart from byte 0). */
  truncate(size) {
    if (this.sync) this.sync.truncate(size);
    else this.pending = this.pending.then(() => this.writable.truncate(size));
  }

  async close() {
    if (this.sync) {
      this.sync.flush();
      this.sync.close();
      this.sync = null;
    } else if (this.writable) {
      await this.pending;
      await this.writable.close();
      this.writable = null;
    }
  }

  /** Closes the file and commits it under its real name with entry. */
  async commit(entry) {
    await this.close();
    await this.store.commit(this.name, this.part, this.handle, entry);
  }

  /**
   * Closes the temporary file and deletes it, or with keep (a download cut
   * short, whose bytes so far were good) leaves it for the next load to
   * resume.
   */
  async discard({ keep = false } = {}) {
    try { await this.close(); } catch { /* already broken */ }
    if (keep && this.store.manifest.partial?.[this.name]) return;
    try { if (this.store.manifest.partial) { delete this.store.manifest.partial[this.name]; await this.store.save(); } } catch { /* best effort */ }
    try { await this.store.dir.removeEntry(this.part); } catch { /* gone */ }
  }
}

// ---------------------------------------------------------------------------
// Managing the cache from a page, without an engine.

/**
 * The models in the cache: [{model, revision, files, bytes}], files being
 * the number of verified files and bytes their total size.
 */
export async function listCachedModels() {
  if (!hasOPFS()) return [];
  let root;
  try { root = await rootDir(false); } catch { return []; }
  const out = [];
  for await (const [, handle] of root.entries()) {
    if (handle.kind !== 'directory') continue;
    const m = await readJSON(handle, MANIFEST);
    if (!m || !m.files) continue;
    const files = Object.values(m.files);
    if (files.length === 0 && Object.keys(m.partial || {}).length === 0) continue; // nothing kept
    out.push({
      model: m.model, revision: m.revision ?? null,
      files: files.length, bytes: files.reduce((n, f) => n + (f.size || 0), 0),
    });
  }
  return out.sort((a, b) => String(a.model).localeCompare(String(b.model)));
}

/**
 * Deletes every cached revision of model (a repo id or a URL, as given to
 * createEngine). Resolves with the number of cache entries removed.
 */
export async function deleteCachedModel(model) {
  if (!hasOPFS()) return 0;
  let root;
  try { root = await rootDir(false); } catch { return 0; }
  let url = null;
  try { url = describeModel(model).base; } catch { /* a repo id or a name that never loaded */ }
  const doomed = [];
  for await (const [name, handle] of root.entries()) {
    if (handle.kind !== 'directory') continue;
    const m = await readJSON(handle, MANIFEST);
    if (m && (m.model === model || (url && m.url === url && !m.revision))) doomed.push(name);
  }
  for (const name of doomed) await root.removeEntry(name, { recursive: true });
  return doomed.length;
}

/** {usage, quota, persisted} of this origin's storage, in bytes. */
export async function storageEstimate() {
  const s = typeof navigator !== 'undefined' ? navigator.storage : undefined;
  if (!s?.estimate) return { usage: 0, quota: 0, persisted: false };
  const { usage = 0, quota = 0 } = await s.estimate();
  const persisted = s.persisted ? await s.persisted() : false;
  return { usage, quota, persisted };
}

/**
 * Asks the browser not to evict the cache under storage pressure. Resolves
 * with whether storage is now persistent (browsers may decide silently).
 */
export async function requestPersistentStorage() {
  const s = typeof navigator !== 'undefined' ? navigator.storage : undefined;
  if (!s?.persist) return false;
  try { return await s.persist(); } catch { return false; }
}

/** Throws a QUOTA error when needed more bytes will not fit. */
export async function checkQuota(needed, what) {
  if (!(needed > 0)) return;
  const { usage, quota } = await storageEstimate();
  if (!quota) return; // the browser does not say: try
  const free = Math.max(0, quota - usage);
  if (needed > free) {
    throw new NanoVLLMError(errorCodes.QUOTA,
      `${what} needs ${formatBytes(needed)} of storage but only ${formatBytes(free)} is free ` +
      `(quota ${formatBytes(quota)}, ${formatBytes(usage)} in use): delete cached models, ` +
      `ask for persistent storage, or load with cache: false`);
  }
}

/** 1536 -> "1.5 KB"; decimal units, as browsers and disks count. */
export function formatBytes(n) {
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return i === 0 ? `${n} bytes` : `${n.toFixed(n < 10 ? 2 : 1)} ${units[i]}`;
}
