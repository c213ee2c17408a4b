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
// Special tokens follow llama_tokenize: user-defined tokens are always cut out
// of the text before tokenizing; control tokens only with parseSpecial. Decode
// follows llama_detokenize: control tokens vanish unless rendered, SPM drops
// the space its prefix added when the ids do not start with BOS, and the BPE
// vocabularies that ask for it get clean_up_tokenization_spaces. DecodeOptions
// .Exact gives the inverse of Encode instead.
//
// Vocabularies come from GGUF metadata (FromGGUF) or are built in Go (New,
// ByteVocab, TrainSPM, TrainBPE) and written back with GGUFKVs.
//
// Sources: llama.cpp src/llama-vocab.cpp and src/unicode.cpp (the version
// bundled with node-llama-cpp 3.21.1); GPT-2's encoder.py for the byte map.
package tokenizer
