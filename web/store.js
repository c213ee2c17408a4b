// store.js — the page's side of the hosted adapter store (wasm/worker, package
// store): publish the trained adapter, browse the published ones, load one into
// the session. The API is same-origin by default; pass {base} to use another
// store (it answers CORS).
//
//   import { mountStoreUI, storeAvailable } from "./store.js";
//   if (await storeAvailable()) mountStoreUI(document.querySelector("main"), {
//     getAdapterBytes: async () => model.saveAdapter(),      // Uint8Array (GGUF) or null
//     onLoadAdapter: async (bytes, meta) => model.loadAdapter(bytes),
//     defaultName: () => model.adapterFileName(),             // string or Promise<string>
//   });
//
// The token is never written to storage: it lives in the form's password field only.

/** NAME_RE is the store's name syntax; names also never contain "..". */
export const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** validName reports whether name is acceptable to the store. */
export function validName(name) {
  return NAME_RE.test(name) && !name.includes("..");
}

/** StoreError is a refused store request: status is the HTTP status (0: network). */
export class StoreError extends Error {
  constructor(status, message) {
    super(message);
    this.name = "StoreError";
    this.status = status;
  }
}

const api = (base, p) => `${base.replace(/\/$/, "")}/api/adapters${p}`;

async function check(resp) {
  if (resp.ok) return resp;
  let msg = `${resp.status} ${resp.statusText}`;
  try {
    const body = await resp.json();
    if (body && typeof body.error === "string") msg = body.error;
  } catch {
    // not JSON
  }
  throw new StoreError(resp.status, msg);
}

async function send(url, init) {
  let resp;
  try {
    resp = await fetch(url, init);
  } catch (e) {
    throw new StoreError(0, `cannot reach the store: ${e.message}`);
  }
  return check(resp);
}

/**
 * publishAdapter uploads GGUF bytes as name. Resolves to the stored metadata
 * {name, size, sha256, architecture, rank, ranks, alpha, targets, pairs, created};
 * rejects with a StoreError (401/403 token, 409 exists, 413 too large, 415/400 not a valid adapter).
 */
export async function publishAdapter(bytes, name, token, { overwrite = false, base = "" } = {}) {
  if (!validName(name)) throw new StoreError(400, `bad name "${name}": use a-z, 0-9, ".", "_", "-" (at most 64, no "..")`);
  if (!token) throw new StoreError(401, "enter the store's token to publish");
  const resp = await send(api(base, `/${name}${overwrite ? "?overwrite=1" : ""}`), {
    method: "PUT",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/octet-stream" },
    body: bytes,
  });
  return resp.json();
}

/** listAdapters returns one page {adapters, cursor, truncated}; pass the cursor back for the next one. */
export async function listAdapters({ prefix = "", cursor = "", limit = 50, base = "" } = {}) {
  const q = new URLSearchParams({ limit: String(limit) });
  if (prefix) q.set("prefix", prefix);
  if (cursor) q.set("cursor", cursor);
  const resp = await send(`${api(base, "")}?${q}`, { headers: { Accept: "application/json" } });
  return resp.json();
}

/** fetchAdapter downloads an adapter's bytes. */
export async function fetchAdapter(name, { base = "" } = {}) {
  if (!validName(name)) throw new StoreError(400, `bad name "${name}"`);
  const resp = await send(api(base, `/${name}`));
  return new Uint8Array(await resp.arrayBuffer());
}

/** deleteAdapter removes an adapter (token required). */
export async function deleteAdapter(name, token, { base = "" } = {}) {
  if (!validName(name)) throw new StoreError(400, `bad name "${name}"`);
  await send(api(base, `/${name}`), { method: "DELETE", headers: { Authorization: `Bearer ${token}` } });
}

/**
 * storeAvailable reports whether base (default: this origin) serves the adapter store API, so a
 * page served by `webtune serve` (no store) can leave the UI out.
 */
export async function storeAvailable({ base = "" } = {}) {
  try {
    const resp = await fetch(`${api(base, "")}?limit=1`, { headers: { Accept: "application/json" } });
    return resp.ok && Array.isArray((await resp.json()).adapters);
  } catch {
    return false;
  }
}

/** suggestName turns any label into a valid adapter name. */
export function suggestName(label) {
  const s = String(label ?? "")
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, "-")
    .replace(/\.{2,}/g, ".")
    .replace(/^[^a-z0-9]+/, "")
    .slice(0, 64);
  return s || "adapter";
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v === true) e.setAttribute(k, "");
    else if (v !== false && v != null) e.setAttribute(k, v);
  }
  for (const c of children) if (c) e.append(c);
  return e;
}

const kb = (n) => (n < 1 << 20 ? `${(n / 1024).toFixed(1)} KB` : `${(n / (1 << 20)).toFixed(1)} MB`);

let mounts = 0; // mountStoreUI calls so far

/**
 * mountStoreUI renders the "Publish" form and the "Browse adapters" list into container.
 * opts.getAdapterBytes(): Promise<Uint8Array|null> — the session's adapter (null: nothing trained yet).
 * opts.onLoadAdapter(bytes, meta): Promise — load a downloaded adapter into the session.
 * opts.defaultName(): string or Promise<string> — a suggested name (e.g. model.adapterFileName()).
 * opts.base: the store's origin ("" = this page's).
 * Returns {refresh(), destroy()}.
 */
export function mountStoreUI(container, { getAdapterBytes, onLoadAdapter, defaultName, base = "" } = {}) {
  const n = mounts++;
  const id = (s) => `store${n}-${s}`; // unique ids, so labels stay right if mounted twice
  const status = el("p", { "data-testid": "publish-status", role: "status", "aria-live": "polite", class: "info" });
  const name = el("input", { id: id("name"), "data-testid": "publish-name", type: "text", autocomplete: "off", spellcheck: "false",
    maxlength: "64", pattern: "[a-z0-9][a-z0-9._-]{0,63}", required: true });
  const token = el("input", { id: id("token"), "data-testid": "publish-token", type: "password", autocomplete: "off", required: true });
  const overwrite = el("input", { id: id("overwrite"), "data-testid": "publish-overwrite", type: "checkbox" });
  const publishBtn = el("button", { type: "submit", "data-testid": "publish", text: "Publish" });
  const form = el("form", { "aria-labelledby": id("publish-title"), novalidate: true },
    el("h3", { id: id("publish-title"), text: "Publish this adapter" }),
    el("div", { class: "store-fields", style: "display:flex;flex-wrap:wrap;gap:0.4rem 1rem;align-items:end" },
      el("div", { class: "field" }, el("label", { for: id("name"), text: "Name" }), name),
      el("div", { class: "field" }, el("label", { for: id("token"), text: "Store token" }), token)),
    el("div", { class: "field check" }, overwrite, el("label", { for: id("overwrite"), text: "Replace an adapter of the same name" })),
    el("p", { class: "hint", text: "Lower-case letters, digits, “.”, “_” and “-”. The token stays in this page only." }),
    el("div", { class: "row" }, publishBtn),
    status);

  const listStatus = el("p", { "data-testid": "adapters-status", role: "status", "aria-live": "polite", class: "info" });
  const list = el("ul", { "data-testid": "adapters-list", class: "store-list", "aria-labelledby": id("browse-title") });
  const more = el("button", { type: "button", "data-testid": "adapters-more", class: "secondary", text: "More" });
  const refreshBtn = el("button", { type: "button", "data-testid": "adapters-refresh", class: "secondary", text: "Refresh" });
  const browse = el("div", {},
    el("h3", { id: id("browse-title"), text: "Browse adapters" }), el("div", { class: "row" }, refreshBtn), listStatus, list, more);
  more.style.display = "none"; // not the hidden attribute: page styles may set display on buttons

  const root = el("section", { class: "store", "data-testid": "store", "aria-labelledby": id("title") },
    el("h2", { id: id("title"), text: "Share adapters" }), form, browse);
  container.append(root);
  // The suggestion follows the session (rank, model) until the user types a name of their own.
  let typed = false;
  name.addEventListener("input", () => { typed = name.value !== ""; });
  const suggest = () => {
    if (!defaultName || typed) return;
    Promise.resolve()
      .then(defaultName)
      .then((v) => { if (!typed) name.value = suggestName(String(v).replace(/\.gguf$/, "")); })
      .catch(() => {});
  };
  suggest();
  name.addEventListener("focus", suggest);

  let cursor = "";
  const say = (node, text, isError = false) => {
    node.textContent = text;
    node.classList.toggle("error", isError);
  };

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    publishBtn.disabled = true;
    try {
      const n = name.value.trim();
      if (!validName(n)) throw new StoreError(400, `bad name "${n}": use a-z, 0-9, ".", "_", "-" (at most 64, no "..")`);
      const bytes = getAdapterBytes ? await getAdapterBytes() : null;
      if (!bytes || !bytes.length) throw new StoreError(0, "train or load an adapter first");
      say(status, `Publishing ${kb(bytes.length)}…`);
      const meta = await publishAdapter(bytes, n, token.value, { overwrite: overwrite.checked, base });
      say(status, `Published ${meta.name} (rank ${meta.rank}, ${kb(meta.size)}).`);
      await refresh();
    } catch (e) {
      const hint = { 401: " Enter the token.", 403: " The token was refused.", 409: " Tick “Replace” to overwrite it." }[e.status] ?? "";
      say(status, `Not published: ${e.message}.${hint}`, true);
    } finally {
      publishBtn.disabled = false;
    }
  });

  function row(a) {
    const load = el("button", { type: "button", "data-testid": "adapter-load", "data-name": a.name, text: "Load",
      "aria-label": `Load ${a.name} into the session` });
    load.addEventListener("click", async () => {
      load.disabled = true;
      try {
        say(listStatus, `Loading ${a.name}…`);
        const bytes = await fetchAdapter(a.name, { base });
        if (onLoadAdapter) await onLoadAdapter(bytes, a);
        say(listStatus, `Loaded ${a.name}.`);
      } catch (e) {
        say(listStatus, `Cannot load ${a.name}: ${e.message}`, true);
      } finally {
        load.disabled = false;
      }
    });
    const dl = el("a", { href: api(base, `/${a.name}`), download: a.name.endsWith(".gguf") ? a.name : `${a.name}.gguf`, text: "Download" });
    const info = `${a.architecture}, rank ${a.rank}, alpha ${a.alpha}, ${(a.targets ?? []).join(" ")}, ${kb(a.size)}, ${a.created}`;
    return el("li", { "data-testid": "adapter-item", "data-name": a.name },
      el("strong", { text: a.name }), el("span", { class: "store-info", text: ` ${info} ` }), load, " ", dl);
  }

  async function page(reset) {
    if (reset) {
      cursor = "";
      list.replaceChildren();
    }
    say(listStatus, "Loading list…");
    try {
      const p = await listAdapters({ cursor, base });
      for (const a of p.adapters) list.append(row(a));
      cursor = p.cursor ?? "";
      more.style.display = cursor ? "" : "none";
      say(listStatus, list.children.length ? `${list.children.length} adapter(s)` : "No adapters published yet.");
    } catch (e) {
      say(listStatus, `Cannot list adapters: ${e.message}`, true);
    }
  }
  const refresh = () => page(true);
  refreshBtn.addEventListener("click", refresh);
  more.addEventListener("click", () => page(false));
  refresh();

  return {
    refresh,
    destroy() {
      token.value = "";
      root.remove();
    },
  };
}
