// Headless Chromium (Debian's /usr/bin/chromium driven by playwright-core,
// docs/oracles.md) and a `webtune serve` process for browser tests and
// benchmarks. Never downloads a browser.
//
//   import { buildAll, startServer, launch } from "./lib/browser.mjs";
//   buildAll();                          // bin/webtune and build/webtune.wasm
//   const srv = await startServer();     // {url, stop()}
//   const browser = await launch();
import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export const chromiumArgs = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** buildAll builds the CLI (bin/webtune) and the wasm (build/webtune.wasm). */
export function buildAll() {
  const go = process.env.GO ?? "go";
  execFileSync(go, ["build", "-o", "bin/webtune", "./cmd/webtune"], { cwd: root, stdio: "inherit" });
  execFileSync(go, ["build", "-o", "build/webtune.wasm", "./wasm/bridge"], {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, GOOS: "js", GOARCH: "wasm" },
  });
}

/** freePort returns a free loopback TCP port. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** startServer runs `bin/webtune serve` on a free loopback port. */
export async function startServer() {
  const port = await freePort();
  const proc = spawn(path.join(root, "bin/webtune"), ["serve", "--addr", `127.0.0.1:${port}`], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  proc.stdout.on("data", (d) => (log += d));
  proc.stderr.on("data", (d) => (log += d));
  const url = `http://127.0.0.1:${port}/`;
  for (let i = 0; i < 100; i++) {
    if (proc.exitCode !== null) throw new Error(`webtune serve exited: ${log}`);
    try {
      const r = await fetch(url);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    log: () => log,
    stop: () =>
      new Promise((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once("exit", resolve);
        proc.kill("SIGINT");
      }),
  };
}

export const chromiumPath = "/usr/bin/chromium";

/**
 * webgpuArgs: Chromium's flags with WebGPU on (no --disable-gpu; headless
 * Debian Chromium then gives its SwiftShader adapter, a real GPU elsewhere).
 */
export const webgpuArgs = [...chromiumArgs.filter((a) => a !== "--disable-gpu"), "--enable-unsafe-webgpu"];

/** launchWebGPU starts headless Debian Chromium with WebGPU exposed (web/gpu/engine.js). */
export function launchWebGPU() {
  if (!existsSync(chromiumPath)) {
    throw new Error(`${chromiumPath} is missing: install Debian's chromium (make deps-apt); playwright must not download a browser`);
  }
  return chromium.launch({ executablePath: chromiumPath, headless: true, args: webgpuArgs });
}

/** launch starts headless Debian Chromium (never a downloaded browser). */
export function launch() {
  if (!existsSync(chromiumPath)) {
    throw new Error(`${chromiumPath} is missing: install Debian's chromium (make deps-apt); playwright must not download a browser`);
  }
  return chromium.launch({ executablePath: chromiumPath, headless: true, args: chromiumArgs });
}
