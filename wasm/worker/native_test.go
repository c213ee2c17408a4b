//go:build !js

package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/webtune/webtune/store"
)

// TestDebugServerTimesOutStalledClients is the regression test of issue 16
// item 8: the native debug server had no timeouts, so a request with a
// lying Content-Length held its connection forever. With short timeouts
// the server drops such a client (the 10 s bound only guards a hang; the
// timeout is 300 ms).
func TestDebugServerTimesOutStalledClients(t *testing.T) {
	if debugTimeouts.readHeader <= 0 || debugTimeouts.read <= 0 || debugTimeouts.write <= 0 || debugTimeouts.idle <= 0 {
		t.Fatalf("debug server timeouts %+v: every one must be set", debugTimeouts)
	}
	h, err := store.NewHandler(store.Config{Store: store.NewMemory(), Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	short := 300 * time.Millisecond
	srv := newServer(ln.Addr().String(), h, serverTimeouts{readHeader: short, read: short, write: short, idle: short})
	go srv.Serve(ln)
	defer srv.Close()
	for _, stall := range []string{
		"PUT /api/adapters/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nContent-Length: 100000\r\n\r\nGGUF", // body never finishes
		"GET /api/adapters HTTP/1.1\r\nHost: x\r\n",                                                                // headers never finish
	} {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, stall)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = io.ReadAll(bufio.NewReader(c)) // returns when the server closes the connection
		c.Close()
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("%q: the server still holds the connection after 10 s", strings.SplitN(stall, "\r\n", 2)[0])
		}
	}
	// A well-behaved request still works.
	resp, err := http.Get("http://" + ln.Addr().String() + "/api/adapters")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET: %v %v", resp, err)
	}
	resp.Body.Close()
}
