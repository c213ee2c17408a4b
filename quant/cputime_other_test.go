//go:build js || wasip1 || windows

package quant

// cpuSeconds is unavailable here; benchmarks report wall-clock figures only.
func cpuSeconds() float64 { return 0 }
