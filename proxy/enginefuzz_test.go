package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"frontdoor/internal/desynctest"
	"frontdoor/proxy/http1"
)

// completeRequests reads raw as the engine's parser does, request after
// request, and returns the methods of those that arrive whole (head and
// body), up to the first one that is refused or cut short. The engine may
// answer each of them, and one refusal more; never more than that.
func completeRequests(raw []byte) []string {
	var methods []string
	lim := http1.Limits{MaxHeadBytes: 16 << 10, MaxTargetBytes: 8 << 10, MaxHeaders: 100}
	for len(raw) > 0 {
		var s http1.HeadScanner
		var r http1.Request
		n, err := s.Scan(raw, &lim)
		if err != nil || n == 0 || r.Parse(raw[:n], &lim) != nil {
			return methods
		}
		rest := raw[n:]
		switch {
		case r.Chunked:
			var d http1.ChunkedDecoder
			used := 0
			for !d.Done() {
				k, _, err := d.Decode(rest[used:])
				used += k
				if err != nil || (k == 0 && !d.Done()) {
					return methods
				}
			}
			rest = rest[used:]
		case int64(len(rest)) < r.ContentLength:
			return methods
		default:
			rest = rest[r.ContentLength:]
		}
		methods = append(methods, string(r.Method))
		if !r.KeepAlive {
			return methods
		}
		raw = rest
	}
	return methods
}

// FuzzEngine sends arbitrary bytes to a running engine (static files under
// /s/, everything else proxied to rawOrigin), half-closes, and reads until
// the engine closes. It must never crash or hang, must answer only with
// well-formed responses, never more than the requests that arrived whole
// plus one refusal, and must forward nothing the origin cannot frame,
// never more requests than the client sent. A panic the engine recovered
// from fails the case that caused it.
func FuzzEngine(f *testing.F) {
	root := f.TempDir()
	writeFile(f, filepath.Join(root, "a.txt"), "alpha")
	o := startRawOrigin(f)
	cfg := proxySite(o.addr)
	cfg.Workers = 1
	cfg.Limits.MaxBodyBytes = desynctest.MutationMaxBody
	cfg.Sites[0].Routes = append(cfg.Sites[0].Routes, Route{Prefix: "/s/", Static: &Static{Root: root}})
	te := startEngine(f, cfg)

	f.Add([]byte("GET /s/a.txt HTTP/1.1\r\nHost: a\r\n\r\nHEAD /s/a.txt HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"))
	f.Add([]byte("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloPOST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"))
	f.Add([]byte("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc"))
	for _, m := range desynctest.Mutations() {
		if len(m.Raw) < 4096 {
			f.Add([]byte(m.Raw + desynctest.FollowUp))
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		methods := completeRequests(raw)
		mark := o.mark()
		panicsBefore := te.e.Stats().Panics
		resps, err := halfCloseExchange(te.addr, raw, methods)
		if err != nil {
			t.Fatalf("%v\ninput %q", err, raw)
		}
		// A panic is recovered into a 500 and a close, which the checks
		// below may accept: the count tells. The engine counts it before
		// it closes the connection, which the exchange waited for.
		if err := te.panicCheck(panicsBefore); err != nil {
			t.Fatalf("%v\ninput %q", err, raw)
		}
		if len(resps) > len(methods)+1 {
			t.Fatalf("%d answers to %d whole requests: %+v\ninput %q", len(resps), len(methods), resps, raw)
		}
		reqs, problems, _ := o.since(mark)
		for _, p := range problems {
			t.Errorf("origin: %s", p)
		}
		if len(reqs) > len(methods) {
			t.Errorf("the origin saw %d requests, the client sent %d whole ones", len(reqs), len(methods))
		}
		seen := map[int]bool{}
		for _, r := range resps {
			if r.Seq == 0 {
				continue
			}
			if seen[r.Seq] || r.Seq <= mark.reqs || r.Seq > mark.reqs+len(reqs) {
				t.Errorf("answer from origin request %d, which is not one of this client's (%d..%d) or came twice",
					r.Seq, mark.reqs+1, mark.reqs+len(reqs))
			}
			seen[r.Seq] = true
		}
		if t.Failed() {
			t.Logf("input %q", raw)
		}
	})
}

// halfCloseExchange writes raw, shuts down the write side, and reads
// responses until the engine closes the connection. The i-th response is
// read as the answer to methods[i] (a HEAD answer has no body).
func halfCloseExchange(addr string, raw []byte, methods []string) ([]clientResponse, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(raw); err != nil && !isReset(err) {
		return nil, err
	}
	c.(*net.TCPConn).CloseWrite()
	br := bufio.NewReader(c)
	var resps []clientResponse
	for {
		if _, err := br.Peek(1); err != nil {
			if isReset(err) || err == io.EOF {
				return resps, nil
			}
			return resps, errors.New("no close from the engine: " + err.Error())
		}
		method := "GET"
		if len(resps) < len(methods) {
			method = methods[len(resps)]
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			return resps, errors.New("answer " + strconv.Itoa(len(resps)+1) + " is not HTTP: " + err.Error())
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil && !isReset(err) {
			return resps, errors.New("answer body: " + err.Error())
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 {
			continue
		}
		seq, _ := strconv.Atoi(resp.Header.Get("X-Origin-Seq"))
		resps = append(resps, clientResponse{Status: resp.StatusCode, Seq: seq, Close: resp.Close, Body: string(body)})
		if resp.Close {
			// Only the page of a refused HEAD (its method not trusted)
			// may follow, then the close.
			rest, err := io.ReadAll(br)
			if err != nil && !isReset(err) {
				return resps, errors.New("no close after Connection: close: " + err.Error())
			}
			if len(rest) > 0 && !(seq == 0 && resp.StatusCode >= 400 && bytes.HasPrefix(rest, []byte("<!doctype html>"))) {
				return resps, errors.New("bytes after Connection: close: " + strconv.Quote(string(clip(rest, 200))))
			}
			return resps, nil
		}
	}
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe"))
}
