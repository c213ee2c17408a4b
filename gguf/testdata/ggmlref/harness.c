// harness.c generates the reference vectors in this folder from ggml's own reference code, so the
// Go codecs can be checked bit for bit against ggml without a C toolchain at test time.
//
// Regenerate (needs a ggml checkout, e.g. git clone of node-llama-cpp's llama/gitRelease.bundle):
//   G=/path/to/llama.cpp/ggml
//   gcc -O1 -I$G/include -I$G/src harness.c $G/src/ggml-quants.c -lm -o /tmp/harness && (cd . && /tmp/harness)
//
// Files: <name>.in and <name>.out, raw little-endian. Quantizers: .in float32 values, .out blocks.
// Dequantizers: .in blocks, .out float32 values. fp16/bf16: .in float32, .out uint16.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "ggml.h"
#include "ggml-impl.h"
#include "ggml-quants.h"

// Stubs for the few ggml.c symbols ggml-quants.c references.
void ggml_abort(const char *file, int line, const char *fmt, ...) { fprintf(stderr, "abort %s:%d\n", file, line); exit(1); }
size_t ggml_row_size(enum ggml_type t, int64_t ne) { (void)t; (void)ne; return 0; }
const char *ggml_type_name(enum ggml_type t) { (void)t; return "?"; }
size_t ggml_type_size(enum ggml_type t) { (void)t; return 0; }

static uint64_t state = 0x9E3779B97F4A7C15ull;
static uint32_t next32(void) { state = state * 6364136223846793005ull + 1442695040888963407ull; return (uint32_t)(state >> 32); }
static float unif(void) { return (next32() >> 8) * (1.0f / 16777216.0f); } // [0,1)

static void dump(const char *name, const char *ext, const void *p, size_t n) {
    char path[256]; snprintf(path, sizeof path, "%s.%s", name, ext);
    FILE *f = fopen(path, "wb"); fwrite(p, 1, n, f); fclose(f);
}

#define NB 64
// inputs fills NB blocks of 32 floats with varied scales, zeros, ties and exact multiples.
static void inputs(float *x) {
    for (int b = 0; b < NB; b++) {
        float scale = powf(10.0f, -3.0f + 6.0f * unif());
        for (int j = 0; j < 32; j++) {
            float *v = &x[b*32 + j];
            switch (b % 8) {
            case 0: *v = 0; break;                                              // all zero
            case 1: *v = (float)((int)(next32() % 255) - 127) * scale / 127; break; // on the grid
            case 2: *v = (j == 3 ? scale : j == 9 ? -scale : (unif()*2-1) * scale * 0.5f); break; // +-max tie
            case 3: *v = (float)((int)(next32() % 17) - 8) * 0.5f * scale; break; // halves: rounding ties
            default: *v = (unif()*2-1) * scale; break;
            }
        }
    }
}

static void random_blocks(uint8_t *p, int nblocks, int size, const int *f16offs, int nf16) {
    for (int i = 0; i < nblocks*size; i++) p[i] = (uint8_t)next32();
    for (int b = 0; b < nblocks; b++)
        for (int k = 0; k < nf16; k++) {
            ggml_fp16_t h = GGML_FP32_TO_FP16((unif()*2-1) * 2.0f);
            memcpy(p + b*size + f16offs[k], &h, 2);
        }
}

#define DEQ(name, blk, fn, qk, ...) do { \
    int offs[] = {__VA_ARGS__}; int n = sizeof(offs)/sizeof(offs[0]); \
    static uint8_t in[NB*sizeof(blk)]; static float out[NB*qk]; \
    random_blocks(in, NB, sizeof(blk), offs, n); \
    fn((const blk *)in, out, NB*qk); \
    dump(name, "in", in, sizeof in); dump(name, "out", out, sizeof out); } while (0)

int main(void) {
    static float x[NB*32];
    inputs(x);
    static block_q8_0 q8[NB]; quantize_row_q8_0_ref(x, q8, NB*32);
    dump("q8_0_quant", "in", x, sizeof x); dump("q8_0_quant", "out", q8, sizeof q8);
    static block_q4_0 q4[NB]; quantize_row_q4_0_ref(x, q4, NB*32);
    dump("q4_0_quant", "in", x, sizeof x); dump("q4_0_quant", "out", q4, sizeof q4);

    // fp16 and bf16 conversions of many floats across the whole range, incl. specials.
    enum { NF = 4096 };
    static float f[NF]; static uint16_t h[NF], bf[NF];
    for (int i = 0; i < NF; i++) {
        uint32_t u = next32();
        if (i < 2048) u = (u & 0x80000000u) | ((uint32_t)(100 + i % 60) << 23) | (u & 0x7FFFFF); // near half range
        if (i % 97 == 0) u = (u & 0x80001FFFu) | 0x38801000u;   // tie patterns
        memcpy(&f[i], &u, 4);
    }
    uint32_t specials[] = {0, 0x80000000u, 0x7F800000u, 0xFF800000u, 0x7FC00000u, 0x7F800001u, 0x477FE000u, 0x477FF000u, 0x477FEFFFu, 0x33000000u, 0x33000001u, 0x387FC000u, 0x38800000u};
    for (unsigned i = 0; i < sizeof specials / 4; i++) memcpy(&f[i], &specials[i], 4);
    for (int i = 0; i < NF; i++) { h[i] = GGML_FP32_TO_FP16(f[i]); bf[i] = GGML_FP32_TO_BF16(f[i]).bits; }
    dump("fp16", "in", f, sizeof f); dump("fp16", "out", h, sizeof h);
    dump("bf16", "in", f, sizeof f); dump("bf16", "out", bf, sizeof bf);

    DEQ("q4_1_dequant", block_q4_1, dequantize_row_q4_1, 32, 0, 2);
    DEQ("q5_0_dequant", block_q5_0, dequantize_row_q5_0, 32, 0);
    DEQ("q5_1_dequant", block_q5_1, dequantize_row_q5_1, 32, 0, 2);
    DEQ("q4_k_dequant", block_q4_K, dequantize_row_q4_K, 256, 0, 2);
    DEQ("q5_k_dequant", block_q5_K, dequantize_row_q5_K, 256, 0, 2);
    DEQ("q6_k_dequant", block_q6_K, dequantize_row_q6_K, 256, 208);
    DEQ("q8_0_dequant", block_q8_0, dequantize_row_q8_0, 32, 0);
    DEQ("q4_0_dequant", block_q4_0, dequantize_row_q4_0, 32, 0);
    return 0;
}
