// dom.js — small helpers every part of the page uses: element lookup and
// number formatting.

/** $ returns the element with this id. */
export const $ = (id) => document.getElementById(id);

/** mb formats a byte count as megabytes. */
export function mb(n) {
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

/** clock formats seconds as m:ss or h:mm:ss ("–" when unknown). */
export function clock(sec) {
  if (!Number.isFinite(sec)) return "–";
  sec = Math.round(sec);
  const m = Math.floor(sec / 60);
  const s = String(sec % 60).padStart(2, "0");
  return m >= 60 ? `${Math.floor(m / 60)}:${String(m % 60).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** fmt formats a number with thousands separators. */
export function fmt(n) {
  return Number(n).toLocaleString("en-US");
}

/** saveBytes offers bytes to the user as a download named name. */
export function saveBytes(bytes, name) {
  const url = URL.createObjectURL(new Blob([bytes], { type: "application/octet-stream" }));
  const a = Object.assign(document.createElement("a"), { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
