package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// serveRawAnswers runs a raw TCP upstream (no net/http server): each
// request read on a connection is answered with exactly the bytes answer
// returns, so a test controls the framing to the byte.
func serveRawAnswers(t testing.TB, answer func(req *http.Request) string) string {
	return serveTCP(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			if _, err := io.WriteString(c, answer(req)); err != nil {
				return
			}
		}
	})
}

// hammer sends request (raw bytes; method tells how to read the answer)
// over one keep-alive connection to addr again and again, reading each
// answer, until the returned stop is called.
func hammer(t *testing.T, addr, method string, request func(i int) string) (stop func()) {
	var done atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for i := 0; !done.Load(); i++ {
			if _, err := io.WriteString(c, request(i)); err != nil {
				t.Error(err)
				return
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(br, &http.Request{Method: method})
			if err != nil {
				t.Errorf("hammer: %v", err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	return func() { done.Store(true); wg.Wait() }
}
