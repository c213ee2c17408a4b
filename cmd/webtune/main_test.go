package main

import (
	"strings"
	"testing"
)

func TestHelp(t *testing.T) {
	code, out, _ := runCLI("help")
	if code != 0 || !strings.Contains(out, "inspect") || !strings.Contains(out, "usage: webtune <command>") {
		t.Fatalf("help: exit %d\n%s", code, out)
	}
	for _, c := range commands {
		name := c.name
		if c.summary == "" || !strings.Contains(out, name) {
			t.Errorf("command %s missing from help or has no summary", name)
		}
	}
}

// TestEveryCommandHelp: `webtune X --help` and `webtune help X` print usage and exit 0.
func TestEveryCommandHelp(t *testing.T) {
	for _, c := range commands {
		name := c.name
		for _, args := range [][]string{{name, "--help"}, {"help", name}} {
			code, _, errOut := runCLI(args...)
			if code != 0 || !strings.Contains(errOut, "usage: webtune "+name) {
				t.Errorf("%v: exit %d, stderr %.80q", args, code, errOut)
			}
		}
	}
}

func TestBadInvocations(t *testing.T) {
	for _, args := range [][]string{nil, {"bogus"}, {"help", "bogus"}} {
		code, _, errOut := runCLI(args...)
		if code != 1 || errOut == "" {
			t.Errorf("%q: exit %d, stderr %q", args, code, errOut)
		}
	}
}
