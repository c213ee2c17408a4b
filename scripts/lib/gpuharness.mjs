// A blank page in headless Chromium with WebGPU on (SwiftShader here) that
// has web/gpu's modules loaded, for the kernel tests of web/gpu/*.js: it
// serves the modules, and the files a Go generator writes (a reference
// computed by our Go packages) under /data/.
//
//   const h = await openGPUHarness({ modules: { E: "engine", O: "ops" }, gen: "./scripts/tests/webgpuopsgen" });
//   h.page.evaluate(...) sees window.E, window.O; h.dir holds the generated files; await h.close();
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { launchWebGPU, root } from "./browser.mjs";

/**
 * openGPUHarness runs the generator gen (a Go package path, with -out DIR)
 * when given, serves the page and opens it with each of modules (global
 * name → web/gpu/NAME.js) on window and window.ready set. It returns
 * {page, browser, dir, base, close}.
 */
export async function openGPUHarness({ modules, gen = null, onConsole = false }) {
  const dir = mkdtempSync(path.join(tmpdir(), "webtune-webgpu-"));
  if (gen) execFileSync(process.env.GO ?? "go", ["run", gen, "-out", dir], { cwd: root, stdio: "inherit" });
  const imports = Object.entries(modules).map(([g, m]) => `import * as ${g} from "/gpu/${m}.js";\nwindow.${g} = ${g};`).join("\n");
  const html = `<!doctype html><meta charset="utf-8"><script type="module">\n${imports}\nwindow.ready = true;\n</script>`;
  const server = createServer((req, res) => {
    let body, type;
    if (req.url === "/") [body, type] = [html, "text/html"];
    else if (/^\/gpu\/[a-z]+\.js$/.test(req.url)) [body, type] = [readFile(path.join(root, "web", req.url)), "text/javascript"];
    else if (/^\/data\/[A-Za-z0-9_.-]+$/.test(req.url)) [body, type] = [readFile(path.join(dir, req.url.slice(6))), "application/octet-stream"];
    if (body === undefined) return res.writeHead(404).end();
    res.writeHead(200, { "Content-Type": type }).end(body);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${server.address().port}/`;
  const browser = await launchWebGPU();
  const page = await browser.newPage();
  page.on("pageerror", (e) => console.log(`pageerror: ${e.message}`));
  if (onConsole) page.on("console", (m) => m.type() === "warning" && console.log(`console: ${m.text()}`));
  await page.goto(base);
  await page.waitForFunction(() => window.ready === true);
  const close = async () => {
    await browser.close();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { page, browser, dir, base, close };
}

// readFile returns a file's bytes, or undefined when it cannot be read (a 404).
function readFile(p) {
  try {
    return readFileSync(p);
  } catch {
    return undefined;
  }
}
