// Package store is webtune's hosted adapter store: a plain http.Handler that
// serves the page's static files and an API for LoRA adapter GGUF files, kept
// in a small object-store interface (Store) with an in-memory implementation
// here and an R2 implementation in wasm/worker (Cloudflare Workers).
//
// The API (all errors are JSON {"error": "..."}):
//
//	GET    /api/adapters?limit=N&cursor=C&prefix=P  list, paginated (JSON)
//	GET    /api/adapters/{name}                     download (ETag, Range, Content-Disposition)
//	HEAD   /api/adapters/{name}                     headers of the download
//	PUT    /api/adapters/{name}[?overwrite=1]       store one (Authorization: Bearer <token>)
//	DELETE /api/adapters/{name}                     remove one (Authorization: Bearer <token>)
//
// Names match [a-z0-9][a-z0-9._-]{0,63} and never contain "..". An upload is
// validated completely before anything is stored (ValidateAdapter): size cap,
// parseable GGUF, general.type = "adapter", adapter.type = "lora", and every
// tensor one half of a well-formed <base>.lora_a / <base>.lora_b pair
// (llama.cpp's loader rules, docs/llamacpp-lora.md, as lora.InspectAdapter checks
// them for every reader of adapter files). A refused request changes
// nothing. Statuses: 400 bad name or body, 401 no token, 403 wrong token,
// 404 unknown, 409 exists without ?overwrite=1, 413 too large, 415 not a GGUF
// adapter.
//
// The package has no build tags: it is tested natively and under
// GOOS=js GOARCH=wasm with httptest and the Memory store.
package store
