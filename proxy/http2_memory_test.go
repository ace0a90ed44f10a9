package proxy

import (
	"bufio"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"frontdoor/internal/testkit"
)

// TestHTTP2IdleConnectionMemory measures what an idle HTTP/2 connection
// costs the engine after one request: bench/holdconns, in a process of its
// own, opens n connections (TLS with ALPN h2, and h2c), and the engine's
// heap is compared before and after. Over TLS it must stay within 6 KiB
// (the connection, its codec, its HPACK table and its TLS state); buffers
// all go back to the pools when a connection goes idle.
func TestHTTP2IdleConnectionMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens thousands of connections")
	}
	const n = 2000
	raiseFileLimit(t, n+500)
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	hold := filepath.Join(t.TempDir(), "holdconns")
	if out, err := exec.Command(goTool, "build", "-o", hold, "../bench/holdconns").CombinedOutput(); err != nil {
		t.Fatalf("building bench/holdconns: %v\n%s", err, out)
	}
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "1k.bin"), string(make([]byte, 1024)))
	cfg := staticSite(root)
	cfg.Workers = 1
	he := startH2Engine(t, cfg, "localhost")
	for _, tc := range []struct {
		name  string
		addr  string
		args  []string
		limit float64 // KiB
	}{
		{"TLS", he.httpsAddr, []string{"-tls", "-h2"}, 6},
		{"h2c", he.addr, []string{"-h2"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for deadline := time.Now().Add(20 * time.Second); he.e.Stats().Connections > 0; {
				if time.Now().After(deadline) {
					t.Fatalf("the engine still holds %d connections of the last run", he.e.Stats().Connections)
				}
				time.Sleep(10 * time.Millisecond)
			}
			runtime.GC()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			cmd := exec.Command(hold, append([]string{"-addr", tc.addr, "-n", strconv.Itoa(n), "-path", "/1k.bin"}, tc.args...)...)
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			var stderr testkit.SyncBuffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				stdin.Close()
				cmd.Wait()
			}()
			line, err := bufio.NewReader(stdout).ReadString('\n')
			if err != nil || line != "ready\n" {
				t.Fatalf("holdconns: %q %v\n%s", line, err, stderr.String())
			}
			deadline := time.Now().Add(20 * time.Second)
			for he.e.Stats().Connections < n {
				if time.Now().After(deadline) {
					t.Fatalf("the engine holds %d connections, want %d", he.e.Stats().Connections, n)
				}
				time.Sleep(10 * time.Millisecond)
			}
			// The least of a few readings: the last acknowledgements may
			// still be on their way when holdconns says it is ready.
			inUse := uint64(1<<63 - 1)
			for i := 0; i < 5; i++ {
				runtime.GC()
				var after runtime.MemStats
				runtime.ReadMemStats(&after)
				inUse = min(inUse, after.HeapInuse)
				time.Sleep(50 * time.Millisecond)
			}
			perConn := float64(int64(inUse)-int64(before.HeapInuse)) / n / 1024
			t.Logf("%s: %.2f KiB of heap per idle HTTP/2 connection (%d held)", tc.name, perConn, n)
			if perConn > tc.limit {
				t.Errorf("%s: %.2f KiB per idle connection, want at most %.0f", tc.name, perConn, tc.limit)
			}
		})
	}
}
