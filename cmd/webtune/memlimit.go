package main

import (
	"bufio"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// trainingGCPercent is the GC target of a native training run: the heap may
// grow 25% past the live data before a collection (Go's default 100% made
// the peak RSS about twice the live heap on the real-size shapes, since
// every step allocates its activations afresh).
const trainingGCPercent = 25

// setTrainingGC applies trainingGCPercent unless GOGC is set, and a soft
// memory limit of 90% of the machine's available memory unless GOMEMLIMIT
// is set, so that a run near the machine's size collects harder instead of
// being killed.
func setTrainingGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(trainingGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		if avail := memAvailable(); avail > 0 {
			debug.SetMemoryLimit(avail / 10 * 9)
		}
	}
}

// memAvailable returns MemAvailable from /proc/meminfo in bytes, or 0 where
// it cannot be read (not Linux).
func memAvailable() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 3 && fields[0] == "MemAvailable:" && fields[2] == "kB" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
