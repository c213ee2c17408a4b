//go:build linux

// Command realsize benchmarks native LoRA training on random-weight models
// of the shapes people fine-tune (SmolLM2-135M, Gemma-3-270M, Qwen2.5-0.5B,
// Llama-3.2-1B): for each shape it writes a GGUF file with our gguf writer
// into a temporary directory (deleted afterwards), runs
//
//	webtune train --rank 8 --targets attn_q,attn_v --seq-len 256 --batch 1 --steps N
//
// on it and reports the file size, training tokens/s and the peak resident
// memory of the train process (getrusage's ru_maxrss) against the goal
// peak RSS ≤ 1.3 × file size + 300 MB.
//
//	go run ./scripts/bench/realsize [-shapes smollm2-135m,qwen2.5-0.5b] [-steps 3] [-workers 1] [-recompute]
//	go run ./scripts/bench/realsize -shapes smollm2-135m -write DIR   # only write DIR/smollm2-135m.gguf
//
// Each shape is written as its model's architecture with that family's
// extra tensors (Qwen2.5: qwen2 with q/k/v biases; Llama 3.2: llama with
// rope_freqs.weight; Gemma 3: gemma3 with q/k norms, post-norms and a
// sliding window of 512 on five layers of six, rope bases 1e6/1e4) and the
// model's dimensions (head_dim may differ
// from embd/heads); weights are quantized the way
// llama.cpp's Q8_0 and Q4_K_M files store them: a tensor whose rows are
// not whole 256-blocks falls back to Q5_0 (Q8_0 for the embedding), as
// llama.cpp's quantizer does. `make bench` runs it; `make test` does not.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/webtune/webtune/gguf"
	"github.com/webtune/webtune/quant"
	"github.com/webtune/webtune/tokenizer"
)

// shape is one real model's dimensions and weight format.
type shape struct {
	name                        string
	arch                        string  // general.architecture
	ropeBase                    float32 // rope.freq_base
	bias, ropeFreqs             bool    // q/k/v biases (qwen2); rope_freqs.weight (Llama 3)
	window                      int     // gemma3's attention.sliding_window (and its extra tensors)
	embd, layers, heads, kv, hd int
	ffn, vocab                  int
	weights                     gguf.TensorType // block linears (Q8_0 or Q4_K)
	embdType                    gguf.TensorType // token_embd (the tied head)
}

var shapes = []shape{
	{"smollm2-135m", "llama", 100000, false, false, 0, 576, 30, 9, 3, 64, 1536, 49152, gguf.TypeQ8_0, gguf.TypeQ8_0},
	{"gemma3-270m", "gemma3", 1000000, false, false, 512, 640, 18, 4, 1, 256, 2048, 262144, gguf.TypeQ8_0, gguf.TypeQ8_0},
	{"qwen2.5-0.5b", "qwen2", 1000000, true, false, 0, 896, 24, 14, 2, 64, 4864, 151936, gguf.TypeQ4_K, gguf.TypeQ6_K},
	{"llama3.2-1b", "llama", 500000, false, true, 0, 2048, 16, 32, 8, 64, 8192, 128256, gguf.TypeQ4_K, gguf.TypeQ6_K},
}

func main() {
	only := flag.String("shapes", "", "comma-separated shapes (default all: smollm2-135m,gemma3-270m,qwen2.5-0.5b,llama3.2-1b)")
	steps := flag.Int("steps", 3, "training steps per shape")
	workers := flag.Int("workers", 1, "webtune train --workers")
	webtune := flag.String("webtune", "", "webtune binary (default: go build ./cmd/webtune into the temp dir)")
	recompute := flag.Bool("recompute", false, "pass --recompute (block recomputation) to webtune train")
	keep := flag.Bool("keep", false, "keep the temp dir and the model files (their paths go to stderr)")
	writeShape := flag.String("write-shape", "", "internal: write the model of this shape to -write-path and exit")
	writePath := flag.String("write-path", "", "internal: see -write-shape")
	write := flag.String("write", "", "only write the models of -shapes into this directory (SHAPE.gguf) and exit: no training")
	f32 := flag.Bool("f32", false, "with -write, also write SHAPE.f32.gguf: the same model with every quantized tensor decoded to F32")
	flag.Parse()
	if *writeShape != "" {
		for _, s := range shapes {
			if s.name == *writeShape {
				_, err := writeModel(*writePath, s, false)
				check(err)
				return
			}
		}
		check(fmt.Errorf("unknown shape %q", *writeShape))
	}
	if *write != "" {
		check(os.MkdirAll(*write, 0o755))
		for _, s := range shapes {
			if *only != "" && !strings.Contains(","+*only+",", ","+s.name+",") {
				continue
			}
			_, err := writeModel(filepath.Join(*write, s.name+".gguf"), s, false)
			check(err)
			if *f32 {
				_, err := writeModel(filepath.Join(*write, s.name+".f32.gguf"), s, true)
				check(err)
			}
		}
		return
	}
	dir, err := os.MkdirTemp("", "webtune-realsize-")
	check(err)
	if !*keep {
		defer os.RemoveAll(dir)
	}
	bin := *webtune
	if bin == "" {
		bin = filepath.Join(dir, "webtune")
		build := exec.Command("go", "build", "-o", bin, "./cmd/webtune")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		check(build.Run())
	}
	data := filepath.Join(dir, "data.txt")
	check(os.WriteFile(data, []byte(corpus()), 0o644))
	fmt.Printf("| shape | weights | file MB | load s | tokens/s | peak RSS MB | goal MB (1.3·file+300) |\n|---|---|---|---|---|---|---|\n")
	for _, s := range shapes {
		if *only != "" && !strings.Contains(","+*only+",", ","+s.name+",") {
			continue
		}
		model := filepath.Join(dir, s.name+".gguf")
		size, err := writeInChild(s.name, model)
		check(err)
		r, err := trainOnce(bin, model, data, dir, *steps, *workers, *recompute)
		check(err)
		if *keep {
			fmt.Fprintln(os.Stderr, "model:", model)
		} else {
			os.Remove(model)
		}
		mb := float64(size) / 1e6
		fmt.Printf("| %s | %v/%v | %.0f | %.1f | %.1f | %.0f | %.0f |\n", s.name, s.weights, s.embdType, mb,
			r.load.Seconds(), r.tokensPerSec, float64(r.maxRSS)/1e6, 1.3*mb+300)
	}
}

// writeInChild writes the model of shape name to path in a child process
// and returns the file's size. The model is built in memory, and a process
// started by a big process inherits its size as the start of its peak RSS
// (ru_maxrss survives exec): keeping this process small keeps webtune's
// measured peak its own.
func writeInChild(name, path string) (int64, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(self, "-write-shape", name, "-write-path", path)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("writing %s: %w", name, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// result is what one training run measured.
type result struct {
	load         time.Duration // start until the first step's progress line
	tokensPerSec float64       // the last progress line's tok/s
	maxRSS       int64         // bytes
}

var tokS = regexp.MustCompile(`([0-9.]+) tok/s`)

// trainOnce runs webtune train on model and measures it.
func trainOnce(bin, model, data, dir string, steps, workers int, recompute bool) (result, error) {
	args := []string{"train", "--model", model, "--data", data, "--out", filepath.Join(dir, "adapter.gguf"),
		"--rank", "8", "--targets", "attn_q,attn_v", "--seq-len", "256", "--batch", "1",
		"--steps", strconv.Itoa(steps), "--eval-fraction", "-1", "--checkpoint-every", "0",
		"--workers", strconv.Itoa(workers)}
	if recompute {
		args = append(args, "--recompute")
	}
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return result{}, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	var r result
	sc := bufio.NewScanner(stderr)
	sc.Split(scanLinesOrCR)
	var log []string
	for sc.Scan() {
		line := sc.Text()
		log = append(log, line)
		if m := tokS.FindStringSubmatch(line); m != nil {
			if r.load == 0 {
				r.load = time.Since(start)
			}
			r.tokensPerSec, _ = strconv.ParseFloat(m[1], 64)
		}
	}
	if err := cmd.Wait(); err != nil {
		return r, fmt.Errorf("%s: %w\n%s", model, err, strings.Join(log, "\n"))
	}
	r.maxRSS = cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024
	return r, nil
}

// scanLinesOrCR splits on \n or \r (the progress bar redraws with \r).
func scanLinesOrCR(data []byte, atEOF bool) (int, []byte, error) {
	for i, b := range data {
		if b == '\n' || b == '\r' {
			return i + 1, data[:i], nil
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// writeModel writes a random-weight model of shape s to path and returns
// its size. With f32 every quantized tensor is written decoded to F32 (the
// same values, bit for bit as ggml decodes them): llama.cpp then multiplies
// in float32 too, without rounding its activations to 8-bit blocks, so its
// output can be compared with webtune's at the F32 tolerance (at real sizes
// those roundings flip a few values on last-ulp differences and move the
// log-probs by 1e-2..1e-1; scripts/lib/adaptercheck.mjs).
func writeModel(path string, s shape, f32 bool) (int64, error) {
	w := gguf.NewWriter()
	v := tokenizer.ByteVocab()
	for i := len(v.Tokens); i < s.vocab; i++ { // filler pieces up to the real vocabulary size
		v.Tokens = append(v.Tokens, fmt.Sprintf("▁w%d", i))
		v.Scores = append(v.Scores, -float32(i))
		v.Types = append(v.Types, tokenizer.TypeNormal)
	}
	tok, err := tokenizer.New(v)
	if err != nil {
		return 0, err
	}
	p := s.arch + "."
	kvs := []gguf.KV{
		{Key: "general.architecture", Value: gguf.String(s.arch)},
		{Key: "general.name", Value: gguf.String(s.name + " (random weights)")},
		{Key: p + "context_length", Value: gguf.Uint32(2048)},
		{Key: p + "embedding_length", Value: gguf.Uint32(uint32(s.embd))},
		{Key: p + "block_count", Value: gguf.Uint32(uint32(s.layers))},
		{Key: p + "feed_forward_length", Value: gguf.Uint32(uint32(s.ffn))},
		{Key: p + "attention.head_count", Value: gguf.Uint32(uint32(s.heads))},
		{Key: p + "attention.head_count_kv", Value: gguf.Uint32(uint32(s.kv))},
		{Key: p + "attention.key_length", Value: gguf.Uint32(uint32(s.hd))},
		{Key: p + "attention.value_length", Value: gguf.Uint32(uint32(s.hd))},
		{Key: p + "rope.dimension_count", Value: gguf.Uint32(uint32(s.hd))},
		{Key: p + "rope.freq_base", Value: gguf.Float32(s.ropeBase)},
		{Key: p + "attention.layer_norm_rms_epsilon", Value: gguf.Float32(1e-5)},
		{Key: p + "vocab_size", Value: gguf.Uint32(uint32(s.vocab))},
	}
	if s.window > 0 {
		kvs = append(kvs, gguf.KV{Key: p + "attention.sliding_window", Value: gguf.Uint32(uint32(s.window))},
			gguf.KV{Key: p + "rope.freq_base_swa", Value: gguf.Float32(10000)})
	}
	for _, kv := range append(kvs, tok.GGUFKVs()...) {
		if err := w.Add(kv.Key, kv.Value); err != nil {
			return 0, err
		}
	}
	seed := uint64(1)
	add := func(name string, typ gguf.TensorType, rows, cols int) error {
		seed++
		if cols%typ.BlockSize() != 0 { // llama.cpp's fallback for rows of partial K-blocks
			typ = gguf.TypeQ5_0
			if strings.HasPrefix(name, "token_embd") {
				typ = gguf.TypeQ8_0
			}
		}
		if rows == 1 {
			ones := make([]float32, cols)
			for i := range ones {
				ones[i] = 1
			}
			return w.AddTensorF32(name, []uint64{uint64(cols)}, ones, gguf.TypeF32)
		}
		data, err := quant.Random(typ, rows, cols, 0.05, seed)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if f32 {
			vals := make([]float32, rows*cols)
			if err := gguf.Decode(typ, vals, data); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return w.AddTensorF32(name, []uint64{uint64(cols), uint64(rows)}, vals, gguf.TypeF32)
		}
		return w.AddTensor(name, typ, []uint64{uint64(cols), uint64(rows)}, data)
	}
	q, kv := s.heads*s.hd, s.kv*s.hd
	if err := add("token_embd.weight", s.embdType, s.vocab, s.embd); err != nil {
		return 0, err
	}
	if err := add("output_norm.weight", gguf.TypeF32, 1, s.embd); err != nil {
		return 0, err
	}
	for l := range s.layers {
		p := fmt.Sprintf("blk.%d.", l)
		for _, t := range []struct {
			name       string
			rows, cols int
		}{{"attn_norm.weight", 1, s.embd}, {"attn_q.weight", q, s.embd}, {"attn_k.weight", kv, s.embd},
			{"attn_v.weight", kv, s.embd}, {"attn_output.weight", s.embd, q}, {"ffn_norm.weight", 1, s.embd},
			{"ffn_gate.weight", s.ffn, s.embd}, {"ffn_up.weight", s.ffn, s.embd}, {"ffn_down.weight", s.embd, s.ffn}} {
			if err := add(p+t.name, s.weights, t.rows, t.cols); err != nil {
				return 0, err
			}
		}
		if s.window > 0 { // gemma3's q/k norms and post-norms
			for _, t := range []struct {
				name string
				n    int
			}{{"attn_q_norm.weight", s.hd}, {"attn_k_norm.weight", s.hd}, {"post_attention_norm.weight", s.embd}, {"post_ffw_norm.weight", s.embd}} {
				if err := add(p+t.name, gguf.TypeF32, 1, t.n); err != nil {
					return 0, err
				}
			}
		}
		if s.bias {
			for _, b := range []struct {
				name string
				n    int
			}{{"attn_q.bias", q}, {"attn_k.bias", kv}, {"attn_v.bias", kv}} {
				if err := w.AddTensorF32(p+b.name, []uint64{uint64(b.n)}, make([]float32, b.n), gguf.TypeF32); err != nil {
					return 0, err
				}
			}
		}
	}
	if s.ropeFreqs { // Llama 3's factors: 1 for high frequencies, 8 for low, a ramp between
		ff := make([]float32, s.hd/2)
		for i := range ff {
			ff[i] = 1 + 7*float32(i)/float32(len(ff)-1)
		}
		if err := w.AddTensorF32("rope_freqs.weight", []uint64{uint64(len(ff))}, ff, gguf.TypeF32); err != nil {
			return 0, err
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	n, err := w.WriteTo(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// corpus is the training text: enough varied English for a few hundred
// windows of 256 tokens.
func corpus() string {
	var b strings.Builder
	words := strings.Fields(`the quick brown fox jumps over the lazy dog while a small cook writes her diary
		about bread soup rice and the weather of each morning in the old town near the river`)
	for i := range 60000 {
		b.WriteString(words[(i*7+i/13)%len(words)])
		if i%17 == 16 {
			b.WriteString(".\n")
		} else {
			b.WriteByte(' ')
		}
	}
	return b.String()
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "realsize:", err)
		os.Exit(1)
	}
}
