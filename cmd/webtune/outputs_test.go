package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/webtune/webtune/gguf"
)

// trainSetup writes a tiny model and the training text into a temp dir.
func trainSetup(t *testing.T) (model, data, dir string) {
	t.Helper()
	model = writeTinyModel(t, gguf.TypeF32, false)
	dir = t.TempDir()
	data = filepath.Join(dir, "data.txt")
	if err := os.WriteFile(data, []byte(cliText), 0o644); err != nil {
		t.Fatal(err)
	}
	return model, data, dir
}

// TestTrainChecksOutputsFirst is the regression test of issue 16 item 1:
// with an --out that cannot be written, train ran every step, then failed
// naming its temp file (open …/.x.gguf.tmp1534244160) and wrote no
// checkpoint. Now it refuses before training, naming the flag. (Tests run
// as root, where a read-only directory is writable: a path under a regular
// file fails for root too.)
func TestTrainChecksOutputsFirst(t *testing.T) {
	model, data, dir := trainSetup(t)
	file := filepath.Join(dir, "a-file")
	os.WriteFile(file, []byte("x"), 0o644)
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	for _, tc := range []struct {
		name, flag string
		args       []string
	}{
		{"--out in a missing directory", "--out", []string{"--out", filepath.Join(dir, "missing", "x.gguf")}},
		{"--out under a regular file", "--out", []string{"--out", filepath.Join(file, "x.gguf")}},
		{"--out is a directory", "--out", []string{"--out", sub}},
		{"--checkpoint under a regular file", "--checkpoint", []string{"--out", filepath.Join(dir, "ok.gguf"), "--checkpoint", filepath.Join(file, "c.ckpt")}},
		{"--checkpoint in a missing directory", "--checkpoint", []string{"--out", filepath.Join(dir, "ok.gguf"), "--checkpoint", filepath.Join(dir, "nope", "c.ckpt")}},
	} {
		var out, errb bytes.Buffer
		args := append([]string{"--model", model, "--data", data, "--steps", "3", "--seq-len", "16", "--batch", "2"}, tc.args...)
		err := runTrain(context.Background(), args, &out, &errb)
		if err == nil || !strings.HasPrefix(err.Error(), tc.flag+" ") || strings.Contains(err.Error(), ".tmp") {
			t.Errorf("%s: error %v, want one naming %s and not the temp file", tc.name, err, tc.flag)
		}
		if strings.Contains(errb.String(), "step ") {
			t.Errorf("%s: trained before refusing:\n%s", tc.name, errb.String())
		}
	}
}

// TestTrainRescuesOutputs: when --out (checked writable before training)
// fails at the end all the same, the adapter and the checkpoint are written
// beside the training data, stderr says where, and the error names --out's
// path; the rescued adapter loads.
func TestTrainRescuesOutputs(t *testing.T) {
	model, data, _ := trainSetup(t)
	outDir := t.TempDir()
	out := filepath.Join(outDir, "x.gguf")
	beforeSave = func() { os.RemoveAll(outDir) }
	defer func() { beforeSave = func() {} }()
	var stdout, errb bytes.Buffer
	err := runTrain(context.Background(), []string{"--model", model, "--data", data, "--out", out, "--steps", "2", "--seq-len", "16", "--batch", "2"}, &stdout, &errb)
	if err == nil || !strings.Contains(err.Error(), out) {
		t.Fatalf("error %v, want one naming %s", err, out)
	}
	dataDir := filepath.Dir(data)
	for _, p := range []string{filepath.Join(dataDir, "x.gguf"), filepath.Join(dataDir, "x.gguf.ckpt")} {
		if st, err := os.Stat(p); err != nil || st.Size() == 0 {
			t.Errorf("%s not rescued: %v", p, err)
		}
		if !strings.Contains(errb.String(), "wrote it to "+p+" instead") {
			t.Errorf("stderr does not say %s:\n%s", p, errb.String())
		}
	}
	if !strings.Contains(errb.String(), "--resume "+filepath.Join(dataDir, "x.gguf.ckpt")) && !strings.Contains(errb.String(), "wrote "+filepath.Join(dataDir, "x.gguf")) {
		t.Errorf("stderr:\n%s", errb.String())
	}
	runJSON(t, "--model", model, "--lora", filepath.Join(dataDir, "x.gguf"), "--tokens", "1,50", "--max-tokens", "0", "--json")
}

// TestTrainCleansStaleTemps is the regression test of issue 16 item 7:
// runs killed while writing left .out.gguf.tmp* and .out.gguf.ckpt.tmp*
// files behind for ever. The next run in that directory removes the
// ones of its own outputs' naming that are older than itself, and nothing
// else.
func TestTrainCleansStaleTemps(t *testing.T) {
	model, data, dir := trainSetup(t)
	old := processStart.Add(-time.Hour)
	stale := []string{".out.gguf.tmp1534244160", ".out.gguf.ckpt.tmp42"}
	kept := []string{".other.gguf.tmp77", ".out.gguf.tmpabc", ".out.gguf.tmp", "out.gguf.tmp5", "notes.txt", ".out.gguf.tmp999"}
	for _, n := range append(slices.Clone(stale), kept...) {
		p := filepath.Join(dir, n)
		os.WriteFile(p, []byte("partial"), 0o644)
		mtime := old
		if n == ".out.gguf.tmp999" { // newer than this process: maybe another run's, kept
			mtime = time.Now().Add(time.Hour)
		}
		os.Chtimes(p, mtime, mtime)
	}
	os.Mkdir(filepath.Join(dir, ".out.gguf.tmp31"), 0o755) // not a regular file: kept
	os.Chtimes(filepath.Join(dir, ".out.gguf.tmp31"), old, old)
	kept = append(kept, ".out.gguf.tmp31")
	log := runTrainCLI(t, "--model", model, "--data", data, "--out", filepath.Join(dir, "out.gguf"), "--steps", "1", "--seq-len", "16", "--batch", "2")
	for _, n := range stale {
		if _, err := os.Lstat(filepath.Join(dir, n)); err == nil {
			t.Errorf("stale %s kept", n)
		}
		if !strings.Contains(log, filepath.Join(dir, n)) {
			t.Errorf("removal of %s not reported:\n%s", n, log)
		}
	}
	for _, n := range kept {
		if _, err := os.Lstat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s removed: %v", n, err)
		}
	}
}
