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
// validated completely before anything is stored (ValidateAdapter, through
// lora.CheckAdapter, the validator every reader of adapter files shares):
// size cap, parseable GGUF under lora.AdapterLimits (bounded keys, arrays,
// strings, metadata and tensors), general.type = "adapter", adapter.type =
// "lora", every tensor one half of a well-formed <base>.lora_a /
// <base>.lora_b pair with base an adaptable llama-family weight
// (llama.cpp's loader rules, docs/llamacpp-lora.md), and every weight
// finite. What is stored with it (Metadata) fits R2's custom metadata
// limit (MaxMetaBytes) by construction. A refused request changes nothing.
// Statuses: 400 bad name or body, 401 no token, 403 wrong token, 404
// unknown, 409 exists without ?overwrite=1, 413 too large, 415 not a GGUF
// adapter, 416 a range past the end.
//
// A download's headers and bytes come from one Store.Get, so a download
// racing an overwrite serves exactly one version. One byte range gives 206;
// several ranges, or positions that are not plain digits (bytes=+1-+2), are
// ignored and the whole file is sent (200), alike on the Worker and here.
// Error messages repeat at most 200 bytes of a name.
//
// The package has no build tags: it is tested natively and under
// GOOS=js GOARCH=wasm with httptest and the Memory store.
package store
