package main

import (
	"os"
	"testing"
)

func TestMemAvailable(t *testing.T) {
	if _, err := os.Stat("/proc/meminfo"); err != nil {
		if memAvailable() != 0 {
			t.Fatal("memAvailable without /proc/meminfo")
		}
		return
	}
	if a := memAvailable(); a < 1<<20 {
		t.Fatalf("MemAvailable = %d bytes", a)
	}
}
