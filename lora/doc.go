// Package lora adds low-rank adapters (LoRA) to the linear layers of a model,
// trains them over dense or 4-bit NF4 bases (QLoRA), saves and loads them as
// llama.cpp LoRA adapter GGUF files, counts parameters as PEFT does, and
// merges them back into the base weights.
//
// # Math (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models")
//
// A frozen linear layer W [out, in] (with optional bias b) is wrapped as
//
//	y = base(x) + s · dropout(x)·Aᵀ·Bᵀ      A [r, in], B [out, r]
//	s = alpha / r          (LoRA, PEFT's default scaling)
//	s = alpha / √r         (rsLoRA, Kalajdzievski 2023, WithRSLoRA)
//
// for x [..., in] (any leading dimensions, flattened to N rows). A starts
// random and B at zero, so an injected model computes exactly what its base
// computed. Only A and B are trained; the base's parameters are frozen (PEFT's
// bias="none") and get no gradient and no gradient compute. With
// h = xd·Aᵀ [N, r], xd = dropout(x), and dy the output gradient, LoraLinear's
// Backward computes
//
//	dB += s · dyᵀ·h                     [out, r]
//	dh  = s · dy·B                      [N, r]
//	dA += dhᵀ·xd                        [r, in]
//	dx  = base's dx + (dh·A) ⊙ mask     [N, in]
//
// where mask is the inverted-dropout mask (0 or 1/(1−p)) of the last training
// Forward. h is recomputed in Backward (it costs N·in·r multiply-adds), so
// without dropout the layer is stateless between Forward and Backward. The
// adapter adds 2·N·r·(in+out) flops to the forward pass and 2·N·r·(3·in+2·out)
// to the backward pass, against 2·N·in·out for each pass of the base.
//
// Initialisation (WithInit; every draw comes from a PCG stream seeded by
// WithSeed and an FNV-1a hash of the layer's name, so a layer gets the same A
// whatever else is injected):
//
//	InitKaiming   A ~ U(−1/√in, 1/√in)   PEFT's default, kaiming_uniform_(a=√5)
//	InitGaussian  A ~ N(0, σ = 1/r)      PEFT's init_lora_weights="gaussian"
//	InitNormal    A ~ N(0, 1)            the paper's "random Gaussian"
//
// # QLoRA (Dettmers et al. 2023, "QLoRA: Efficient Finetuning of Quantized LLMs")
//
// NewQLoRATrainer first replaces each targeted dense nn.Linear with an
// nn.NF4Linear (NF4 codes, blocks of 64, package nf4), whose fused kernels
// never hold a float copy of W, then wraps it as above. Gradients flow through
// the dequantized NF4 weight to x, as in the paper: the NF4 base is the model
// being adapted. Merge dequantizes an NF4 base and adds the delta in T, giving
// a dense layer (PEFT re-quantizes instead, losing most of the delta to
// rounding).
//
// # Targets (PEFT conventions)
//
// InjectLoRA matches a target against a layer's full name or the last
// dot-separated part of it ("attn_q" matches "blk.0.attn_q"). PEFT's llama
// module names are aliases of llama.cpp's GGUF names: q_proj=attn_q,
// k_proj=attn_k, v_proj=attn_v, o_proj=attn_output, gate_proj=ffn_gate,
// up_proj=ffn_up, down_proj=ffn_down, lm_head=output. "all-linear" selects
// every linear layer but the output head (last part "output" or "lm_head"),
// as in PEFT. Summary prints PEFT's print_trainable_parameters line; an NF4
// base weight counts rows·cols parameters, as PEFT's count of a bnb
// Params4bit (packed numel × 2) does.
//
// # Adapter files (llama.cpp, docs/llamacpp-lora.md, docs/peft.md)
//
// WriteAdapter writes what llama.cpp's llama_adapter_lora_init loads: for a
// layer whose base tensor is <base> (layer+".weight" unless the model
// implements BaseTensorNamer), tensors <base>.lora_a with ggml dims [in, r]
// and <base>.lora_b with dims [r, out], F32; ggml dims list the fastest
// index first, so the bytes are exactly A [r, in] and B [out, r] row-major,
// the layout of PEFT's lora_A.weight and lora_B.weight. Keys:
//
//	general.architecture    STRING   the model's (Architecturer), else "webtune"
//	general.type            STRING   "adapter"
//	adapter.type            STRING   "lora"
//	adapter.lora.alpha      FLOAT32  alpha, or alpha·√r with rsLoRA (llama.cpp
//	                                 always scales by adapter.lora.alpha / r)
//	webtune.format_version  UINT32   1
//	webtune.lora.rank       UINT32   r (written only when all layers share it)
//	webtune.lora.alpha      FLOAT32  alpha as trained
//	webtune.lora.use_rslora BOOL
//	webtune.lora.target_modules  ARRAY[STRING]  last name parts of the wrapped layers
//	lora.rank, lora.alpha   UINT32, FLOAT32     the published API's keys
//
// llama.cpp ignores keys it does not know and refuses tensors not ending in
// .lora_a/.lora_b, so the published API's tensor names lora.<layer>.weight_a
// and .weight_b (same bytes, same dims) are read but never written.
//
// InspectAdapter holds the file-level rules (keys and their types, tensor
// names, pairing, tensor types, dims and ranks; docs/llamacpp-lora.md) with no
// model: ReadAdapter, the adapter store and webtune merge all check files
// with it and add only what needs the model or the base GGUF. Adaptable
// tensor names are listed once, in names.go (TargetOf, BlockTargets).
// CheckAdapter is InspectAdapter for bytes from an untrusted source: it
// parses under AdapterLimits (MaxAdapterKVs, MaxAdapterArrayLength,
// MaxAdapterStringLength, MaxAdapterMetadataBytes, MaxAdapterTensors), so
// memory stays a small constant plus the tensor table, and refuses NaN or
// Inf weights, reading the data once in chunks.
//
// Loading into a model without LoRA layers wraps the file's layers with the
// file's rank and alpha (how a saved adapter is applied to a freshly loaded
// base); loading into a model with LoRA layers requires the file to cover
// exactly those layers with the same ranks and overwrites A, B, alpha and the
// rsLoRA flag. Either way every check (architecture, key types, names, pairs,
// dims, ranks, finite values) passes and all data is read before the model
// is touched, so a refused file leaves the model unchanged. A file without
// any alpha key means llama.cpp's scale 1, read as alpha = r.
//
// # Concurrency
//
// A LoraLinear keeps scratch buffers, its last output shape and its dropout
// mask, so a model is used by one goroutine at a time.
//
// # Sources
//
//   - Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models", arXiv:2106.09685.
//   - Dettmers et al., "QLoRA: Efficient Finetuning of Quantized LLMs", arXiv:2305.14314.
//   - Kalajdzievski, "A Rank Stabilization Scaling Factor for Fine-Tuning with LoRA", arXiv:2312.03732.
//   - PEFT: src/peft/tuners/lora/{config,layer}.py, utils/other.py (print_trainable_parameters).
//   - llama.cpp: src/llama-adapter.cpp, convert_lora_to_gguf.py, tools/export-lora.
//   - docs/llamacpp-lora.md (adapter GGUF) and docs/peft.md (PEFT, naming).
//
// # Tests and benchmarks
//
//	go test ./lora/
//	GOOS=js GOARCH=wasm go test -exec="$(go env GOROOT)/lib/wasm/go_js_wasm_exec" ./lora/
//	go test ./lora/ -run Golden -update        # rewrite testdata/adapter.gguf
//	go test ./lora/ -run '^$' -bench .         # add the -exec flag above for wasm
//	go test ./lora/ -run '^$' -fuzz FuzzReadAdapter -fuzztime 5m
package lora
