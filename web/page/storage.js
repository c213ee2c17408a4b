// storage.js — the page's IndexedDB database ("webtune"), its only owner.
// Each object store is listed in STORES with the database version that
// added it; to add one, append it with the next version: opening the
// database then creates every store it lacks, keeping the others.
//
//   import * as db from "./storage.js";
//   await db.put("checkpoints", "current", record);
//   const rec = await db.get("checkpoints", "current");

const NAME = "webtune";

/** STORES are the object stores, each with the version that added it. */
const STORES = [{ name: "checkpoints", version: 1 }, { name: "adapters", version: 2 }];

const VERSION = Math.max(...STORES.map((s) => s.version));

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(NAME, VERSION);
    req.onupgradeneeded = () => {
      for (const s of STORES) {
        if (!req.result.objectStoreNames.contains(s.name)) req.result.createObjectStore(s.name);
      }
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

// run does one request fn(objectStore) in a transaction and resolves to its result.
async function run(store, mode, fn) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(store, mode);
      const req = fn(tx.objectStore(store));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

/** get resolves to the value under key in store, or undefined. */
export const get = (store, key) => run(store, "readonly", (s) => s.get(key));
/** put stores value under key in store. */
export const put = (store, key, value) => run(store, "readwrite", (s) => s.put(value, key));
/** del deletes key from store. */
export const del = (store, key) => run(store, "readwrite", (s) => s.delete(key));
/** keys resolves to every key of store. */
export const keys = (store) => run(store, "readonly", (s) => s.getAllKeys());
/** getAll resolves to every value of store, in key order. */
export const getAll = (store) => run(store, "readonly", (s) => s.getAll());
