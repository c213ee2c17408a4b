//go:build !js

package main

import (
	"net/http"
	"os"

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
