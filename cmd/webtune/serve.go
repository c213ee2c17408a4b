package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

const serveUsage = `usage: webtune serve [--addr 127.0.0.1:8080] [--dir web] [--wasm build/webtune.wasm] [--build]

Serves the fine-tuning page: the files of --dir, /webtune.wasm (the wasm
build of ./wasm/bridge, made by 'make wasm') and /wasm_exec.js (from
$(go env GOROOT)/lib/wasm unless --dir has its own). The page needs nothing
else (no npm packages). With --build, or when the wasm file is missing and the
current directory is the webtune module, the wasm is built first
(GOOS=js GOARCH=wasm go build). MIME types: .wasm application/wasm,
.js/.mjs text/javascript. Stop with Ctrl-C.
`

// serveConfig locates what the page needs.
type serveConfig struct {
	Dir      string // Dir is the page's folder (web/).
	Wasm     string // Wasm is the wasm build served as /webtune.wasm.
	WasmExec string // WasmExec is Go's wasm_exec.js, served as /wasm_exec.js.
}

// runServe is the serve command.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, serveUsage); fs.PrintDefaults() }
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	var cfg serveConfig
	fs.StringVar(&cfg.Dir, "dir", "web", "folder of the page")
	fs.StringVar(&cfg.Wasm, "wasm", filepath.Join("build", "webtune.wasm"), "wasm build of ./wasm/bridge")
	build := fs.Bool("build", false, "build the wasm before serving")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	if _, err := os.Stat(cfg.Wasm); *build || errors.Is(err, os.ErrNotExist) {
		if err := buildWasm(ctx, cfg.Wasm, stderr); err != nil {
			return err
		}
	}
	cfg.WasmExec = wasmExecPath()
	h, err := newServeHandler(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "webtune: serving %s on http://%s/\n", cfg.Dir, ln.Addr())
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return srv.Shutdown(shut)
	}
}

// buildWasm builds ./wasm/bridge into out when the current directory is
// the webtune module.
func buildWasm(ctx context.Context, out string, stderr io.Writer) error {
	if _, err := os.Stat(filepath.Join("wasm", "bridge")); err != nil {
		return fmt.Errorf("%s not found and ./wasm/bridge is not here to build it (run 'make wasm' in the repository)", out)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "webtune: building %s\n", out)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./wasm/bridge")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building the wasm: %w", err)
	}
	return nil
}

// wasmExecPath returns $(go env GOROOT)/lib/wasm/wasm_exec.js, asking the go
// command when this binary's GOROOT does not have it.
func wasmExecPath() string {
	rel := filepath.Join("lib", "wasm", "wasm_exec.js")
	if p := filepath.Join(runtime.GOROOT(), rel); fileExists(p) {
		return p
	}
	if out, err := exec.Command("go", "env", "GOROOT").Output(); err == nil {
		return filepath.Join(strings.TrimSpace(string(out)), rel)
	}
	return ""
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// serveTypes are the MIME types the page depends on, set explicitly so that
// the system's mime tables cannot change them.
var serveTypes = map[string]string{
	".wasm": "application/wasm",
	".js":   "text/javascript; charset=utf-8",
	".mjs":  "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".html": "text/html; charset=utf-8",
	".json": "application/json",
	".gguf": "application/octet-stream",
	".ts":   "text/plain; charset=utf-8",
	".md":   "text/markdown; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
}

// newServeHandler returns the page's handler.
func newServeHandler(cfg serveConfig) (http.Handler, error) {
	if st, err := os.Stat(cfg.Dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("page folder %q not found (--dir)", cfg.Dir)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/webtune.wasm", func(w http.ResponseWriter, r *http.Request) { serveFile(w, r, cfg.Wasm) })
	mux.HandleFunc("/wasm_exec.js", func(w http.ResponseWriter, r *http.Request) {
		if p := filepath.Join(cfg.Dir, "wasm_exec.js"); fileExists(p) {
			serveFile(w, r, p)
			return
		}
		serveFile(w, r, cfg.WasmExec)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if strings.HasSuffix(p, "/") {
			p += "index.html"
		}
		serveUnder(w, r, cfg.Dir, p)
	})
	return mux, nil
}

// serveUnder serves the file rel inside dir, refusing paths that leave it.
func serveUnder(w http.ResponseWriter, r *http.Request, dir, rel string) {
	clean := path.Clean("/" + rel)
	if strings.Contains(rel, "..") || strings.Contains(clean, "\x00") {
		http.Error(w, "bad path", http.StatusBadRequest)
		return
	}
	serveFile(w, r, filepath.Join(dir, filepath.FromSlash(clean)))
}

// serveFile serves one file with its MIME type and no caching (the wasm
// changes with every build).
func serveFile(w http.ResponseWriter, r *http.Request, p string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	f, err := os.Open(p)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		http.NotFound(w, r)
		return
	}
	ext := strings.ToLower(filepath.Ext(p))
	typ, ok := serveTypes[ext]
	if !ok {
		typ = mime.TypeByExtension(ext)
	}
	if typ == "" {
		typ = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", typ)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	// cross-origin isolation: SharedArrayBuffer for data-parallel training
	// across Web Workers
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Embedder-Policy", "require-corp")
	http.ServeContent(w, r, filepath.Base(p), st.ModTime(), f)
}
