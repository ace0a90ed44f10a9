package http2

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"go/build"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Conformance and real clients against the test harness: h2spec, curl,
// h2load and Go's own HTTP/2 client, over TLS (ALPN h2) and cleartext
// (prior knowledge).

// findTool returns a tool's path from PATH, or from where `go install`
// puts it (GOBIN, GOPATH/bin); "" when it is not installed.
func findTool(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	dirs := []string{os.Getenv("GOBIN")}
	for _, gp := range filepath.SplitList(build.Default.GOPATH) {
		dirs = append(dirs, filepath.Join(gp, "bin"))
	}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	return ""
}

var h2specResult = regexp.MustCompile(`(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed`)

// TestH2Spec runs every h2spec v2.2.1 case (145) against the codec, over
// TLS and over cleartext, and wants them all passed.
func TestH2Spec(t *testing.T) {
	h2spec := findTool("h2spec")
	if h2spec == "" {
		t.Skip("h2spec not installed: go install github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible (scripts/ensure-deps test does)")
	}
	for _, useTLS := range []bool{true, false} {
		name := "h2c"
		if useTLS {
			name = "TLS"
		}
		t.Run(name, func(t *testing.T) {
			h := startHarness(t, useTLS, nil)
			args := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(h.port()), "-o", "5"}
			if useTLS {
				args = append(args, "-t", "-k")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			out, _ := exec.CommandContext(ctx, h2spec, args...).CombinedOutput()
			m := h2specResult.FindSubmatch(out)
			if m == nil {
				t.Fatalf("h2spec said:\n%s", out)
			}
			total, passed, _ := atoi(m[1]), atoi(m[2]), atoi(m[3])
			t.Logf("h2spec %s: %s", name, m[0])
			if total != 145 || passed != total {
				t.Fatalf("h2spec %s: %s\n%s", name, m[0], failures(out))
			}
		})
	}
}

func atoi(b []byte) int {
	n, _ := strconv.Atoi(string(b))
	return n
}

// failures cuts h2spec's report down to its failures.
func failures(out []byte) string {
	if i := bytes.Index(out, []byte("Failures:")); i >= 0 {
		return string(out[i:])
	}
	return string(out)
}

// TestCurl fetches, downloads 10 MiB and uploads with curl --http2.
func TestCurl(t *testing.T) {
	curl := findTool("curl")
	if curl == "" {
		t.Skip("curl not installed (scripts/ensure-deps test installs it)")
	}
	if v, _ := exec.Command(curl, "--version").Output(); !bytes.Contains(v, []byte("HTTP2")) {
		t.Skip("this curl has no HTTP/2")
	}
	upload := filepath.Join(t.TempDir(), "up.bin")
	body := make([]byte, 3<<20)
	rand.Read(body)
	if err := os.WriteFile(upload, body, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, useTLS := range []bool{true, false} {
		h := startHarness(t, useTLS, nil)
		base := "http://" + h.addr()
		mode := []string{"--http2-prior-knowledge"}
		if useTLS {
			base = "https://" + h.addr()
			mode = []string{"--http2", "-k"}
		}
		run := func(args ...string) []byte {
			t.Helper()
			args = append(append([]string{"-sS", "--max-time", "60"}, mode...), args...)
			out, err := exec.Command(curl, args...).Output()
			if err != nil {
				t.Fatalf("curl %v: %v", args, err)
			}
			return out
		}
		if got := run("-w", "%{http_version} %{http_code}", "-o", "/dev/null", base+"/"); string(got) != "2 200" {
			t.Fatalf("curl %s: %q", base, got)
		}
		if got := run(base + "/"); string(got) != harnessBody {
			t.Fatalf("curl %s body: %q", base, got)
		}
		got := run(base + "/big/10485760")
		if len(got) != 10<<20 || got[len(got)-1] != byte('a'+(10<<20-1)%26) {
			t.Fatalf("curl %s 10 MiB download: %d bytes", base, len(got))
		}
		if echo := run("--data-binary", "@"+upload, base+"/echo"); !bytes.Equal(echo, body) {
			t.Fatalf("curl %s upload: %d bytes echoed of %d", base, len(echo), len(body))
		}
	}
}

// TestH2Load runs nghttp2's load generator over TLS and cleartext: every
// request answered 2xx.
func TestH2Load(t *testing.T) {
	h2load := findTool("h2load")
	if h2load == "" {
		t.Skip("h2load not installed (Debian nghttp2-client; scripts/ensure-deps test installs it)")
	}
	for _, useTLS := range []bool{true, false} {
		h := startHarness(t, useTLS, nil)
		url := "http://" + h.addr() + "/"
		if useTLS {
			url = "https://" + h.addr() + "/"
		}
		out, err := exec.Command(h2load, "-n", "5000", "-c", "8", "-m", "10", url).CombinedOutput()
		if err != nil {
			t.Fatalf("h2load %s: %v\n%s", url, err, out)
		}
		if !bytes.Contains(out, []byte("5000 succeeded, 0 failed, 0 errored, 0 timeout")) ||
			!bytes.Contains(out, []byte("status codes: 5000 2xx")) {
			t.Fatalf("h2load %s:\n%s", url, out)
		}
		proto := "h2c"
		if useTLS {
			proto = "h2"
		}
		if !bytes.Contains(out, []byte("Application protocol: "+proto)) {
			t.Fatalf("h2load %s did not speak %s:\n%s", url, proto, out)
		}
	}
}

// TestGoClient uses Go's HTTP/2 client: 10 MiB downloads on concurrent
// streams of one connection (flow control must not stall them), uploads,
// and many small requests.
func TestGoClient(t *testing.T) {
	h := startHarness(t, true, nil)
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: time.Minute}
	base := "https://" + h.addr()
	get := func(path string) []byte {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Error(err)
			return nil
		}
		defer resp.Body.Close()
		if resp.ProtoMajor != 2 || resp.StatusCode != 200 {
			t.Errorf("%s: %s %d", path, resp.Proto, resp.StatusCode)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Error(err)
		}
		return b
	}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if b := get("/big/10485760"); len(b) != 10<<20 {
				t.Errorf("download: %d bytes", len(b))
			}
		}()
	}
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if b := get("/"); string(b) != harnessBody {
				t.Errorf("small: %q", b)
			}
		}()
	}
	wg.Wait()
	body := bytes.Repeat([]byte("upload "), 300000)
	resp, err := client.Post(base+"/echo", "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	echo, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(echo, body) {
		t.Fatalf("upload: %d bytes echoed of %d", len(echo), len(body))
	}
	// A request with a body of unknown length (no content-length).
	resp, err = client.Post(base+"/echo", "text/plain", io.MultiReader(strings.NewReader("chunk one, "), strings.NewReader("chunk two")))
	if err != nil {
		t.Fatal(err)
	}
	echo, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(echo) != "chunk one, chunk two" {
		t.Fatalf("echo %q", echo)
	}
}
