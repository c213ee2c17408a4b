// Package gguf reads and writes GGUF files, the container ggml and llama.cpp use for models and
// LoRA adapters, and converts tensor data between float32 and ggml's tensor types.
//
// Format: ggml's docs/gguf.md and src/gguf.cpp (summarised in docs/gguf.md). A file is
// a 24-byte header (magic "GGUF", version, tensor count, metadata count), the metadata key/value
// pairs, the tensor infos, zero padding up to the alignment (general.alignment, default 32), then
// the data section. Everything is little-endian. Versions 2 and 3 are read; version 3 is written.
//
// Shapes are in ggml "ne" order: Dims[0] is the length of a row, the fastest-varying index. A
// row-major (PyTorch) tensor of shape [rows, cols] is stored with Dims = [cols, rows] and the same
// bytes, so data is always row-major with the last PyTorch index fastest.
//
// Reading: Open parses the header from an io.ReaderAt of known size and never loads the whole file:
// tensor data is exposed as io.SectionReader views (File.TensorData) or decoded on demand
// (File.ReadTensorF32). Open treats its input as hostile: every count and length is checked against
// a named limit (MaxStringLength, MaxArrayLength, MaxTensorCount, MaxKVCount, MaxDims, ...) and
// against the bytes that remain before anything is allocated, and every failure is a *FormatError
// carrying the byte offset and wrapping ErrFormat, ErrUnsupported or ErrTooLarge. The typed getters
// (GetString, GetUint32, ...) return errors wrapping ErrNotFound or ErrType naming the key, never a
// silent zero.
//
// Writing: a Writer collects metadata and tensors and WriteTo streams them out, packing tensor data
// tightly in insertion order at aligned offsets as ggml's reader requires. It refuses what ggml
// would refuse: duplicate keys or tensor names, names of 64 bytes or more, nested arrays, more than
// four dims, rows that are not whole blocks, a non-power-of-two alignment.
//
// Codecs: Encode handles F32, F16, BF16, Q8_0 and Q4_0, bit-exact with ggml's reference
// quantizers (quantize_row_q8_0_ref, quantize_row_q4_0_ref in ggml-quants.c: C roundf is
// math.Round, half away from zero; fp16 rounds to nearest even). Decode additionally handles
// Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K (dequantize_row_* in ggml-quants.c), F64, I8, I16 and I32.
package gguf
