//go:build !js

package main

import (
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/webtune/webtune/store"
)

// platformStore natively: an in-memory store and the page from $WEB_DIR (default ./web).
func platformStore() (store.Store, http.Handler, error) {
	dir := os.Getenv("WEB_DIR")
	if dir == "" {
		dir = "web"
	}
	return store.NewMemory(), store.NewAssets(os.DirFS(dir)), nil
}

func getenv(name string) string { return os.Getenv(name) }

// Timeouts of the native debug server: a client that stalls (a lying
// Content-Length, headers sent a byte a minute) loses its connection
// instead of holding it forever. Uploads are at most 32 MiB.
var debugTimeouts = serverTimeouts{
	readHeader: 10 * time.Second,
	read:       2 * time.Minute,
	write:      2 * time.Minute,
	idle:       2 * time.Minute,
}

// serverTimeouts are the http.Server timeouts newServer sets.
type serverTimeouts struct{ readHeader, read, write, idle time.Duration }

// newServer returns the debug server of h on addr with timeouts t.
func newServer(addr string, h http.Handler, t serverTimeouts) *http.Server {
	return &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: t.readHeader, ReadTimeout: t.read,
		WriteTimeout: t.write, IdleTimeout: t.idle, MaxHeaderBytes: 64 << 10}
}

// serve natively: the debug server on 127.0.0.1:$PORT (default 9900; $ADDR
// overrides the whole address), with debugTimeouts.
func serve(h http.Handler) {
	addr := os.Getenv("ADDR")
	if addr == "" {
		port := os.Getenv("PORT")
		if port == "" {
			port = "9900"
		}
		addr = "127.0.0.1:" + port
	}
	fmt.Printf("listening on http://%s\n", addr)
	if err := newServer(addr, h, debugTimeouts).ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}
