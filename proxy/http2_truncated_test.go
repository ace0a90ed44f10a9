package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
)

// TestHTTP2TruncatedResponseIsReset: an application that dies in the
// middle of a response body (here a chunked body cut after its first
// chunk) must not reach an HTTP/2 client as a complete response: the
// stream is reset (RST_STREAM), never ended with END_STREAM after the
// bytes that came. Over HTTP/1.1 the connection closes early, which the
// client sees; an HTTP/2 response has no other way to say it.
func TestHTTP2TruncatedResponseIsReset(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	sent := make(chan struct{})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n")
				// The head and the first chunk go out to the client before
				// the application dies.
				<-sent
			}()
		}
	}()
	he := startH2Engine(t, proxySite(ln.Addr().String()), "example.test")
	resp, err := he.h2cClient().Do(newRequest(t, "GET", "http://"+he.addr+"/cut", nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("answered over %s, want HTTP/2", resp.Proto)
	}
	first := make([]byte, 10)
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "0123456789" {
		t.Fatalf("the first chunk: %q, %v", first, err)
	}
	close(sent)
	body, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("the cut response (%d bytes, %q) reached the HTTP/2 client as complete: END_STREAM instead of RST_STREAM", len(body), body)
	}
	t.Logf("body %q, then %v", body, err)
}
