// Package tokenizer turns text into the token ids of a llama-architecture
// model and back, giving exactly the ids llama.cpp gives for the same
// vocabulary (checked against llama.cpp through node-llama-cpp 3.21.1 by
// scripts/tests/tokenizer-interop.test.mjs).
//
// Two tokenizer models of GGUF's tokenizer.ggml.model are implemented:
//
//   - "llama": SentencePiece-style (llama.cpp llm_tokenizer_spm). Spaces become
//     "▁", a space is put in front of the text (add_space_prefix), then adjacent
//     symbols are merged greedily by token score, highest first and leftmost
//     on ties; a symbol that is no token falls back to byte tokens "<0xXX>".
//   - "gpt2": byte-level BPE (llm_tokenizer_bpe). The text is cut into words by
//     the pre-tokenizer named by tokenizer.ggml.pre, every byte is mapped to a
//     printable character (GPT-2's bytes_to_unicode), and symbol pairs are
//     merged by merge rank, lowest first and leftmost on ties.
//
// Pre-tokenizers: "default", "llama3" (and llama-bpe, ...), "gpt-2", "qwen2",
// "smollm" and the other names llama.cpp maps to the same expressions (see
// PreTokenizers). Go's regexp cannot express their look-aheads, so each
// expression is a hand-written scanner following llama.cpp's unicode.cpp,
// including its quirks (categories from the Unicode tables, malformed UTF-8
// read as U+FFFD one byte at a time).
//
// The model families webtune fine-tunes tokenize with these: Qwen2/Qwen3
// ("gpt2", pre "qwen2", 151,936 tokens), Llama 3.x ("gpt2", pre "llama-bpe",
// 128,256), SmolLM2 ("gpt2", pre "smollm", 49,152) and Gemma 3 ("llama",
// 262,144, byte fallback, tokenizer.ggml.add_space_prefix = false, so no
// space is put before the text). An unknown model or pre-tokenizer is an
// ErrUnsupported error naming it. Loading a 150k–262k vocabulary takes about
// 0.1 s of CPU; encoding is linear in the text (map lookups, a heap per word).
//
// # Special tokens
//
// Every token has llama.cpp's attributes (Attr), derived from
// tokenizer.ggml.token_type and then adjusted by llama.cpp's load-time rules
// (texts such as "<|im_end|>" or "<end_of_turn>" are forced to control,
// control tokens named "unused" become unused, ...). Text is cut at special
// tokens before tokenizing, as llama_tokenize does:
//
//   - Encode(text, addSpecial) = llama_tokenize(parse_special = false): only
//     user-defined tokens (Qwen's "<think>", Gemma's whitespace runs) are cut
//     out; the text "<|im_start|>" is tokenized as ordinary text.
//   - EncodeSpecial(text) = llama_tokenize(add_special = false,
//     parse_special = true), node-llama-cpp's model.tokenize(text, true): the
//     texts of control and user-defined tokens ("<|im_start|>",
//     "<start_of_turn>", "<|eot_id|>", "<bos>") become their single ids,
//     longest first, and each piece of text between them is tokenized on its
//     own (an SPM vocabulary with a space prefix puts a space before each
//     piece that follows a special token; Gemma's has none). Use it for a
//     rendered chat template, which carries its own BOS text where the model
//     wants one. Tokenize(text, addSpecial, parseSpecial) is the general form.
//
// The lstrip/rstrip attributes llama.cpp sets for a few models by name
// (jina-v2, phi-3, nomic-bert-moe) are not implemented.
//
// BOS, EOS, UNK and PAD come from tokenizer.ggml.*_token_id with the model
// type's defaults; AddBOS/AddEOS from add_bos_token/add_eos_token (default:
// BOS for SPM and the llama3 pre-tokenizers). The other roles (Vocab.Special:
// RoleEOT, RoleEOM, RoleFIMPad, ...) come from tokenizer.ggml.<role>_token_id
// or, when absent, from the token texts llama.cpp looks for (RoleTexts).
// EOG() is llama.cpp's end-of-generation set — EOS, EOT, EOM, the FIM
// pad/repo/separator tokens and the texts it lists ("<|eot_id|>",
// "<|im_end|>", "<end_of_turn>", "<|endoftext|>", ...): generation stops at
// any of them. When several texts could be EOT (Qwen's "<|endoftext|>" and
// "<|im_end|>"), llama.cpp's pick depends on its hash map's order; EOT()
// takes the highest id.
//
// Decode follows llama_detokenize: control tokens vanish unless rendered,
// SPM drops the space its prefix added when the ids do not start with BOS,
// and the BPE vocabularies that ask for it get clean_up_tokenization_spaces.
// DecodeOptions.Exact gives the inverse of Encode instead; with
// RenderSpecial as well it inverts EncodeSpecial on byte-level BPE.
//
// Vocabularies come from GGUF metadata (FromGGUF) or are built in Go (New,
// ByteVocab, TrainSPM, TrainBPE) and written back with GGUFKVs.
// Tests of any package can build vocabularies laid out like the families'
// (special tokens, types, flags; small or at the real size) with
// internal/testvocab.
//
// Sources: llama.cpp src/llama-vocab.cpp and src/unicode.cpp (the version
// bundled with node-llama-cpp 3.21.1); GPT-2's encoder.py for the byte map.
package tokenizer
