// Command worker is webtune's Cloudflare Worker (GOOS=js GOARCH=wasm, on
// github.com/syumai/workers): the adapter store API of package store over an
// R2 bucket. The page's files are served by the Worker's static-assets binding
// (wrangler.toml [assets]), which answers every path outside /api/ before the
// Worker runs; the Worker only sees /api/* and unmatched paths.
//
// Configuration (wrangler.toml and secrets):
//
//	ADAPTERS           R2 bucket binding holding the adapters (keys "adapters/<name>")
//	ADAPTER_TOKEN      secret bearer token for PUT and DELETE (unset: writes refused)
//	MAX_ADAPTER_BYTES  upload cap in bytes (default 32 MiB)
//
// Built natively (go run ./wasm/worker) it serves the same API from an
// in-memory store and ./web on 127.0.0.1:9900 (PORT, or ADDR for the whole
// address), for debugging without wrangler, with read, write and header
// timeouts so a stalled client cannot hold a connection forever.
package main

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/webtune/webtune/store"
)

// Names of the Worker's bindings and variables.
const (
	bucketBinding = "ADAPTERS"
	tokenVar      = "ADAPTER_TOKEN"
	maxBytesVar   = "MAX_ADAPTER_BYTES"
)

func main() {
	serve(newHandler())
}

// newHandler builds the store handler from the platform's configuration, or
// a handler that answers every request with the configuration error.
func newHandler() http.Handler {
	st, assets, err := platformStore()
	if err != nil {
		return failing(err)
	}
	var maxBytes int64
	if s := getenv(maxBytesVar); s != "" {
		if maxBytes, err = strconv.ParseInt(s, 10, 64); err != nil || maxBytes <= 0 {
			return failing(fmt.Errorf("%s = %q is not a positive byte count", maxBytesVar, s))
		}
	}
	h, err := store.NewHandler(store.Config{Store: st, Token: getenv(tokenVar), MaxBytes: maxBytes, Assets: assets})
	if err != nil {
		return failing(err)
	}
	return h
}

// failing answers every request with a JSON 500 naming the configuration error.
func failing(err error) http.Handler {
	msg := strconv.Quote("worker misconfigured: " + err.Error())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "{\"error\":%s}\n", msg)
	})
}
