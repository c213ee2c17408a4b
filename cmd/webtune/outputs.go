package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// processStart is when this process started: temp files older than it
// cannot belong to a write of this process.
var processStart = time.Now()

// checkWritable reports, before any work, why path (the value of flag)
// cannot be written by writeAtomic: its directory is missing or not a
// directory, path is a directory, or a file cannot be created beside it
// (tried with a temp file of writeAtomic's naming, removed again).
func checkWritable(flag, path string) error {
	dir := filepath.Dir(path)
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("%s %s is a directory: name a file in it, e.g. %s", flag, path, filepath.Join(path, "adapter.gguf"))
	}
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s %s: directory %s does not exist", flag, path, dir)
	case err != nil:
		return fmt.Errorf("%s %s: cannot use directory %s: %w", flag, path, dir, unwrapPath(err))
	case !st.IsDir():
		return fmt.Errorf("%s %s: %s is not a directory", flag, path, dir)
	}
	tmp, err := os.CreateTemp(dir, tempPattern(path))
	if err != nil {
		return fmt.Errorf("%s %s: cannot write in %s: %w", flag, path, dir, unwrapPath(err))
	}
	tmp.Close()
	os.Remove(tmp.Name())
	return nil
}

// unwrapPath drops the *PathError's operation and temp-file name, leaving
// the cause (permission denied, read-only file system, ...).
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// tempPattern is the os.CreateTemp pattern writeAtomic (and
// lora.SaveAdapter) use for path: .<base>.tmp<random digits>.
func tempPattern(path string) string { return "." + filepath.Base(path) + ".tmp*" }

// isOurTemp reports whether name is a temp file of tempPattern(path).
func isOurTemp(name, path string) bool {
	digits, ok := strings.CutPrefix(name, "."+filepath.Base(path)+".tmp")
	if !ok || digits == "" {
		return false
	}
	_, err := strconv.ParseUint(digits, 10, 64)
	return err == nil
}

// cleanStaleTemps removes the temp files a killed earlier run left beside
// path: only names of tempPattern(path), only regular files older than
// this process. It returns the names removed.
func cleanStaleTemps(path string) []string {
	dir := filepath.Dir(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range entries {
		if !e.Type().IsRegular() || !isOurTemp(e.Name(), path) {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(processStart) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if os.Remove(p) == nil {
			removed = append(removed, p)
		}
	}
	return removed
}

// prepareOutputs checks before training that --out and --checkpoint can be
// written, and removes stale temp files of earlier runs beside them.
func prepareOutputs(f *trainFlags, stderr io.Writer) error {
	if err := checkWritable("--out", f.out); err != nil {
		return err
	}
	if err := checkWritable("--checkpoint", f.ckpt); err != nil {
		return err
	}
	for _, p := range []string{f.out, f.ckpt} {
		for _, r := range cleanStaleTemps(p) {
			fmt.Fprintf(stderr, "removed %s, a temp file left by an interrupted run\n", r)
		}
	}
	return nil
}

// saveOrRescue writes path with write (writeAtomic); if that fails it
// writes the same bytes into the first of rescueDirs that works, under
// path's base name (numbered if taken), and says where. It returns the
// path written, and the error of the failed write (nil if path worked).
func saveOrRescue(what, path string, write func(io.Writer) error, rescueDirs []string, stderr io.Writer) (string, error) {
	err := writeAtomic(path, write)
	if err == nil {
		return path, nil
	}
	err = fmt.Errorf("cannot write the %s to %s: %w", what, path, unwrapPath(err))
	for _, dir := range rescueDirs {
		alt := freeName(dir, filepath.Base(path))
		if alt == "" || writeAtomic(alt, write) != nil {
			continue
		}
		fmt.Fprintf(stderr, "%v; wrote it to %s instead\n", err, alt)
		return alt, err
	}
	fmt.Fprintf(stderr, "%v, nor anywhere else (tried %s)\n", err, strings.Join(rescueDirs, ", "))
	return "", err
}

// freeName returns dir/base, or dir/base.1, base.2, ... if taken ("" if
// dir is unusable or all of the first hundred are taken).
func freeName(dir, base string) string {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return ""
	}
	for i := 0; i < 100; i++ {
		p := filepath.Join(dir, base)
		if i > 0 {
			p += "." + strconv.Itoa(i)
		}
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			return p
		}
	}
	return ""
}

// rescueDirs are where saveOrRescue tries when the asked path fails:
// beside the training data, the working directory, the temp directory.
func rescueDirs(f *trainFlags) []string {
	var dirs []string
	for _, d := range []string{filepath.Dir(f.data), ".", os.TempDir()} {
		if abs, err := filepath.Abs(d); err == nil && !slices.Contains(dirs, abs) {
			dirs = append(dirs, abs)
		}
	}
	return dirs
}
