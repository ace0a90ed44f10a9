package proxy

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// slowUpstream answers every request with "slow <path>" after a pause, so
// that a client's FIN reaches the proxy before the response does.
func slowUpstream(t *testing.T, pause time.Duration) string {
	return serveRawAnswers(t, func(req *http.Request) string {
		time.Sleep(pause)
		body := "slow " + req.URL.Path
		return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	})
}

// TestHalfClosedClientsGetTheirResponse: a client that sends a whole
// request and then shuts down its sending side (RFC 9112 §9.6 allows it;
// `nc -N`, health checkers and HTTP/1.0 tools do it) must get the response
// and then see the connection closed — static or proxied (the upstream
// slow, so the FIN arrives first), HTTP/1.0 or 1.1, keep-alive or close.
// Before, a proxied request was dropped without a word whenever the FIN
// came before the response head, and nothing was logged.
func TestHalfClosedClientsGetTheirResponse(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	cfg := proxySite(slowUpstream(t, 20*time.Millisecond))
	cfg.Sites[0].Routes = append(cfg.Sites[0].Routes, Route{Prefix: "/static/", Static: &Static{Root: root}})
	var log lockedWriter
	cfg.AccessLog = &log
	te := startEngine(t, cfg)
	for _, route := range []struct{ path, body string }{
		{"/static/a.txt", "alpha"},
		{"/app/x", "slow /app/x"},
	} {
		for _, proto := range []string{"HTTP/1.0", "HTTP/1.1"} {
			for _, conn := range []string{"keep-alive", "close", ""} {
				name := route.path + " " + proto + " Connection:" + conn
				t.Run(name, func(t *testing.T) {
					for i := 0; i < 20; i++ {
						req := "GET " + route.path + " " + proto + "\r\nHost: x\r\n"
						if conn != "" {
							req += "Connection: " + conn + "\r\n"
						}
						// Reads to the end: the engine must close after the response.
						resps, err := halfCloseExchange(te.addr, []byte(req+"\r\n"), []string{"GET"})
						if err != nil || len(resps) != 1 || resps[0].Status != 200 || resps[0].Body != route.body {
							t.Fatalf("try %d: %+v %v, want one 200 %q and the connection closed", i, resps, err, route.body)
						}
					}
				})
			}
		}
	}
	te.e.Shutdown(t.Context()) // flushes the access log
	if n := strings.Count(log.String(), `"status":200`); n != 2*2*3*20 {
		t.Errorf("%d lines with status 200 in the access log, want %d:\n%s", n, 2*2*3*20, log.String())
	}
}

// TestAbortedRequestIsLogged499: a client that resets its connection while
// the application works on its request gets nothing, and the access log
// says so with status 499 (nginx's "client closed request"); before, the
// request left no line at all.
func TestAbortedRequestIsLogged499(t *testing.T) {
	got, release := make(chan struct{}, 1), make(chan struct{})
	addr := serveTCP(t, func(c net.Conn) {
		defer c.Close()
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		got <- struct{}{}
		<-release
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	cfg := proxySite(addr)
	var log lockedWriter
	cfg.AccessLog = &log
	te := startEngine(t, cfg)
	c, err := net.Dial("tcp", te.addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /gone?token=s3cr3t HTTP/1.1\r\nHost: x\r\n\r\n")
	// Once the request is with the application, reset.
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the request never reached the application")
	}
	deadline := time.Now().Add(5 * time.Second)
	c.(*net.TCPConn).SetLinger(0)
	c.Close()
	close(release)
	var line map[string]any
	for {
		for _, l := range strings.Split(log.String(), "\n") {
			if strings.Contains(l, `"/gone?`) {
				if err := json.Unmarshal([]byte(l), &line); err != nil {
					t.Fatalf("%v: %s", err, l)
				}
			}
		}
		if line != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access log line for the aborted request:\n%s", log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if line["status"] != float64(499) || line["bytes"] != float64(0) || line["uri"] != "/gone?token=REDACTED" {
		t.Fatalf("access log line %v, want status 499, bytes 0, the redacted uri", line)
	}
}
