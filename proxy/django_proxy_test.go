package proxy

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"frontdoor/internal/testkit"
)

type djangoEcho struct {
	Method     string              `json:"method"`
	Path       string              `json:"path"`
	Headers    map[string]string   `json:"headers"`
	IsSecure   bool                `json:"is_secure"`
	Host       string              `json:"host"`
	BodyLength int                 `json:"body_length"`
	BodySHA256 string              `json:"body_sha256"`
	Post       map[string][]string `json:"post"`
	Files      []struct {
		Field, Name, SHA256 string
		Size                int
	} `json:"files"`
}

func TestDjangoBehindFrontdoor(t *testing.T) {
	dir := copyExample(t)
	app := startDjango(t, dir, djangoOptions{})
	cfg := djangoSite(app)
	cfg.Limits.MaxBodyBytes = 200 << 20
	te := startEngine(t, cfg)
	base := "http://" + te.addr
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	fdsBefore := fdCount(t)

	echo := func(req *http.Request) djangoEcho {
		t.Helper()
		resp, body := mustHTTP(t, client, req)
		var e djangoEcho
		if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &e) != nil {
			t.Fatalf("%s %s: %d %q", req.Method, req.URL, resp.StatusCode, body)
		}
		return e
	}

	t.Run("GET", func(t *testing.T) {
		e := echo(newRequest(t, "GET", base+"/echo/?a=1", nil, nil))
		if e.Method != "GET" || e.IsSecure || e.Headers["X-Forwarded-For"] != "127.0.0.1" || len(e.Headers["X-Request-ID"]) != 32 {
			t.Fatalf("%+v", e)
		}
	})
	t.Run("POST form", func(t *testing.T) {
		form := url.Values{"name": {"Ada"}, "lang": {"en", "fr"}}
		e := echo(newRequest(t, "POST", base+"/echo/", []byte(form.Encode()),
			map[string]string{"Content-Type": "application/x-www-form-urlencoded"}))
		if strings.Join(e.Post["lang"], ",") != "en,fr" || e.Post["name"][0] != "Ada" {
			t.Fatalf("form fields: %+v", e.Post)
		}
	})
	t.Run("multipart upload 50 MB", func(t *testing.T) {
		data := make([]byte, 50<<20)
		rand.Read(data)
		sum := sha256.Sum256(data)
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		mw.WriteField("title", "big")
		fw, _ := mw.CreateFormFile("file", "big.bin")
		fw.Write(data)
		mw.Close()
		e := echo(newRequest(t, "POST", base+"/echo/", buf.Bytes(), map[string]string{"Content-Type": mw.FormDataContentType()}))
		if len(e.Files) != 1 || e.Files[0].Size != len(data) || e.Files[0].SHA256 != hex.EncodeToString(sum[:]) || e.Post["title"][0] != "big" {
			t.Fatalf("upload: %+v", e.Files)
		}
	})
	t.Run("redirect", func(t *testing.T) {
		resp, _ := mustHTTP(t, client, newRequest(t, "GET", base+"/redirect/", nil, nil))
		if resp.StatusCode != 302 || resp.Header.Get("Location") != "/" {
			t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("cookies", func(t *testing.T) {
		mustHTTP(t, client, newRequest(t, "GET", base+"/cookie/set/?name=flavour&value=ginger", nil, nil))
		_, body := mustHTTP(t, client, newRequest(t, "GET", base+"/cookie/get/", nil, nil))
		if !strings.Contains(body, `"flavour": "ginger"`) {
			t.Fatalf("cookie round trip: %s", body)
		}
	})
	t.Run("is_secure only from a trusted proxy", func(t *testing.T) {
		// Spoofed by a client: ignored.
		e := echo(newRequest(t, "GET", base+"/echo/", nil, map[string]string{"X-Forwarded-Proto": "https"}))
		if e.IsSecure {
			t.Fatal("a client's X-Forwarded-Proto made Django believe https")
		}
	})
	t.Run("static from the edge, hashed and immutable", func(t *testing.T) {
		_, page := mustHTTP(t, client, newRequest(t, "GET", base+"/", nil, nil))
		i := strings.Index(page, "/static/pages/site.")
		if i < 0 {
			t.Fatalf("no hashed stylesheet in the page: %s", page)
		}
		href := page[i : i+strings.IndexByte(page[i:], '"')]
		resp, _ := mustHTTP(t, client, newRequest(t, "GET", base+href, nil, nil))
		if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || resp.Header.Get("X-Request-Id") != "" {
			t.Fatalf("%s: %d %v", href, resp.StatusCode, resp.Header)
		}
	})
	t.Run("X-Accel-Redirect", func(t *testing.T) {
		want, err := os.ReadFile(filepath.Join(dir, "protected", "hello.txt"))
		if err != nil {
			t.Fatal(err)
		}
		resp, body := mustHTTP(t, client, newRequest(t, "GET", base+"/protected/hello.txt", nil, nil))
		if resp.StatusCode != 200 || body != string(want) || resp.Header.Get("Content-Type") != "application/octet-stream" {
			t.Fatalf("protected download: %d %v %q", resp.StatusCode, resp.Header, body)
		}
		// Ranges work on protected downloads too (the edge serves them).
		resp, body = mustHTTP(t, client, newRequest(t, "GET", base+"/protected/hello.txt", nil, map[string]string{"Range": "bytes=0-4"}))
		if resp.StatusCode != 206 || body != string(want[:5]) {
			t.Fatalf("protected range: %d %q", resp.StatusCode, body)
		}
		if resp, _ := mustHTTP(t, client, newRequest(t, "GET", base+"/protected/missing.txt", nil, nil)); resp.StatusCode != 404 {
			t.Fatalf("missing protected file: %d", resp.StatusCode)
		}
		// The internal location cannot be requested directly.
		resp, _ = mustHTTP(t, client, newRequest(t, "GET", base+"/_protected/hello.txt", nil, nil))
		if resp.StatusCode != 404 {
			t.Fatalf("internal location reachable directly: %d", resp.StatusCode)
		}
	})
	t.Run("app error passes through", func(t *testing.T) {
		resp, _ := mustHTTP(t, client, newRequest(t, "GET", base+"/crash/", nil, nil))
		if resp.StatusCode != 500 {
			t.Fatalf("crash: %d", resp.StatusCode)
		}
	})
	client.CloseIdleConnections()
	testkit.WaitFor(t, 5*time.Second, "connections to close", func() bool { return te.e.Stats().Connections == 0 })
	if after := fdCount(t); after > fdsBefore+int(2*te.e.Stats().Workers)+4 {
		t.Fatalf("descriptors: %d before, %d after", fdsBefore, after)
	}
}

// TestShieldsOneSyncWorker puts 200 slow readers and 200 slow uploaders in
// front of gunicorn with a single sync worker (which can do one request at
// a time) and checks that a fast client is still answered quickly, and
// that every upload reached the application whole.
func TestShieldsOneSyncWorker(t *testing.T) {
	raiseFileLimit(t, 4000)
	dir := copyExample(t)
	app := startDjango(t, dir, djangoOptions{workers: 1, workerClass: "sync"})
	cfg := djangoSite(app)
	cfg.Timeouts.BodyIdle = 5 * time.Second
	te := startEngine(t, cfg)
	const clients = 200
	const uploadSize = 48 << 10 // at 10 KiB/s: ~5 s per upload
	var readersStarted, done = make(chan struct{}, clients), make(chan error, 2*clients)
	stop := make(chan struct{})
	// Slow readers: ask for 1 MiB, read 10 KiB per second.
	for i := 0; i < clients; i++ {
		go func() {
			c, err := net.Dial("tcp", te.addr)
			if err != nil {
				done <- err
				return
			}
			defer c.Close()
			c.(*net.TCPConn).SetReadBuffer(16 << 10)
			c.Write([]byte("GET /big/?size=1048576 HTTP/1.1\r\nHost: localhost\r\n\r\n"))
			buf := make([]byte, 10<<10)
			first := true
			for {
				select {
				case <-stop:
					done <- nil
					return
				case <-time.After(time.Second):
				}
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.ReadFull(c, buf); err != nil {
					done <- fmt.Errorf("slow reader: %v", err)
					return
				}
				if first {
					readersStarted <- struct{}{}
					first = false
				}
			}
		}()
	}
	// Slow uploaders: 47 KiB at 10 KiB/s, then a byte every half second
	// until the test has measured, then the rest: every upload holds its
	// connection, unfinished, while the fast client asks. Each has its own
	// digest.
	finish := make(chan struct{})
	var uploadsDone atomic.Int32
	for i := 0; i < clients; i++ {
		go func(i int) {
			body := bytes.Repeat([]byte{byte('a' + i%26)}, uploadSize)
			c, err := net.Dial("tcp", te.addr)
			if err != nil {
				done <- err
				return
			}
			defer c.Close()
			fmt.Fprintf(c, "POST /echo/?u=%d HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", i, len(body))
			off, held := 0, len(body)-1<<10
			for off < held {
				end := min(off+10<<10, held)
				if _, err := c.Write(body[off:end]); err != nil {
					done <- fmt.Errorf("slow upload: %v", err)
					return
				}
				off = end
				time.Sleep(time.Second)
			}
		trickle:
			for off < len(body)-1 {
				select {
				case <-finish:
					break trickle
				case <-time.After(500 * time.Millisecond):
				}
				if _, err := c.Write(body[off : off+1]); err != nil {
					done <- fmt.Errorf("slow upload: %v", err)
					return
				}
				off++
			}
			<-finish
			if _, err := c.Write(body[off:]); err != nil {
				done <- fmt.Errorf("slow upload: %v", err)
				return
			}
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				done <- fmt.Errorf("upload answer: %v", err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != 200 {
				done <- fmt.Errorf("upload answered %d", resp.StatusCode)
				return
			}
			uploadsDone.Add(1)
			done <- nil
		}(i)
	}
	// Once every reader has its first bytes, all 400 slow connections are
	// in flight, and no upload can finish before the test lets it: the one
	// sync worker would be held by the first of them if the edge passed
	// bodies through, or by a slow reader if it passed responses through,
	// and the fast client would get no answer at all. Its requests are
	// answered (times are logged; speed is measured in bench/, not here).
	for i := 0; i < clients; i++ {
		select {
		case <-readersStarted:
		case err := <-done:
			t.Fatalf("before measuring: %v", err)
		case <-time.After(60 * time.Second):
			t.Fatalf("only %d slow readers got their first bytes", i)
		}
	}
	fast := &http.Client{Timeout: 15 * time.Second}
	var times []time.Duration
	for i := 0; i < 20; i++ {
		start := time.Now()
		resp, body := mustHTTP(t, fast, newRequest(t, "GET", "http://"+te.addr+"/healthz/", nil, nil))
		times = append(times, time.Since(start))
		if resp.StatusCode != 200 || body != "ok\n" {
			t.Fatalf("fast client: %d %q", resp.StatusCode, body)
		}
	}
	t.Logf("fast client with 400 slow clients in flight: %v", times)
	if n := uploadsDone.Load(); n != 0 {
		t.Fatalf("%d uploads finished before the test let them: the measurement proves nothing", n)
	}
	close(finish)
	// Wait for the uploads, then stop the readers.
	for i := 0; i < clients; i++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	for i := 0; i < clients; i++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	// The app saw every upload whole: one log line per upload with the
	// full length and the right digest.
	logs := app.stderr.String()
	for i := 0; i < clients; i++ {
		sum := sha256.Sum256(bytes.Repeat([]byte{byte('a' + i%26)}, uploadSize))
		want := fmt.Sprintf("body_length=%d body_sha256=%s", uploadSize, hex.EncodeToString(sum[:]))
		if !strings.Contains(logs, want) {
			t.Fatalf("upload %d did not reach the app whole", i)
		}
	}
	if n := strings.Count(logs, "echo method=POST"); n != clients {
		t.Fatalf("the app logged %d uploads, want %d", n, clients)
	}
}
