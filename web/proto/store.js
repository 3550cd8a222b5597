// Durable client state in IndexedDB: the signed-in session, and per device
// (one browser profile signed in as one user) its sync token and unacked sends.
// A MemoryStore with the same interface serves tests and browsers without IndexedDB.

const DB = "corpchat";
const VERSION = 1;

function promised(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

export class IdbStore {
  static async open(name = DB) {
    const req = indexedDB.open(name, VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains("kv")) db.createObjectStore("kv");
    };
    return new IdbStore(await promised(req));
  }

  constructor(db) {
    this.db = db;
    this.chain = Promise.resolve();  // writes in the order they were asked for
  }

  get(key) {
    return promised(this.db.transaction("kv").objectStore("kv").get(key));
  }

  put(key, value) {
    this.chain = this.chain.then(() => new Promise((resolve, reject) => {
      const tx = this.db.transaction("kv", "readwrite");
      if (value === undefined) tx.objectStore("kv").delete(key);
      else tx.objectStore("kv").put(value, key);
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
    }));
    return this.chain;
  }
}

export class MemoryStore {
  constructor() { this.map = new Map(); }
  async get(key) { return structuredClone(this.map.get(key)); }
  async put(key, value) {
    if (value === undefined) this.map.delete(key);
    else this.map.set(key, structuredClone(value));
  }
}

export async function openStore() {
  try {
    return await IdbStore.open();
  } catch {
    return new MemoryStore();  // private windows of some browsers refuse IndexedDB
  }
}

/** The key of one device's record: this server, this user. */
export function deviceKey(origin, user) {
  return `device:${origin}:${user}`;
}
