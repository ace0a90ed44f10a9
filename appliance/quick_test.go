package appliance

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestQuickModes runs both quick modes as the benchmarks do and checks
// they serve: file-server a directory, reverse-proxy an upstream with a
// static prefix beside it, forwarding the client's address.
func TestQuickModes(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "hello.txt"), []byte("hello from disk\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, ".env"), []byte("SECRET_KEY=s3cr3t\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("file-server", func(t *testing.T) {
		addr := freePort(t)
		startFrontdoor(t, "file-server", "--listen", addr, "--root", root, "--workers", "1")
		if code, body := get(t, "http://"+addr+"/hello.txt"); code != 200 || body != "hello from disk\n" {
			t.Fatalf("GET /hello.txt = %d %q, want 200 with the file", code, body)
		}
		if code, _ := get(t, "http://"+addr+"/missing.txt"); code != 404 {
			t.Fatalf("GET /missing.txt = %d, want 404", code)
		}
		if code, body := get(t, "http://"+addr+"/.env"); code != 404 || strings.Contains(body, "s3cr3t") {
			t.Fatalf("GET /.env = %d %q, want 404: dotfiles are not served", code, body)
		}
	})

	t.Run("file-server --dotfiles", func(t *testing.T) {
		addr := freePort(t)
		startFrontdoor(t, "file-server", "--listen", addr, "--root", root, "--workers", "1", "--dotfiles")
		if code, body := get(t, "http://"+addr+"/.env"); code != 200 || body != "SECRET_KEY=s3cr3t\n" {
			t.Fatalf("GET /.env with --dotfiles = %d %q, want 200 with the file", code, body)
		}
	})

	t.Run("reverse-proxy", func(t *testing.T) {
		app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("app saw " + r.URL.Path + " from " + r.Header.Get("X-Forwarded-For")))
		}))
		defer app.Close()
		addr := freePort(t)
		startFrontdoor(t, "reverse-proxy", "--listen", addr, "--to", app.Listener.Addr().String(),
			"--static", "/static/="+root, "--workers", "1")
		code, body := get(t, "http://"+addr+"/page")
		if code != 200 || body != "app saw /page from 127.0.0.1" {
			t.Fatalf("GET /page = %d %q, want the app's answer with X-Forwarded-For 127.0.0.1", code, body)
		}
		if code, body := get(t, "http://"+addr+"/static/hello.txt"); code != 200 || body != "hello from disk\n" {
			t.Fatalf("GET /static/hello.txt = %d %q, want the file from --static", code, body)
		}
		if code, _ := get(t, "http://"+addr+"/static/.env"); code != 404 {
			t.Fatalf("GET /static/.env = %d, want 404", code)
		}
		req, _ := http.NewRequest("TRACE", "http://"+addr+"/page", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 {
			t.Fatalf("TRACE /page = %d, want 405 from the edge", resp.StatusCode)
		}
	})

	t.Run("bad upstream", func(t *testing.T) {
		p := startFrontdoor(t, "reverse-proxy", "--listen", freePort(t), "--to", "no-port-here")
		err := p.cmd.Wait()
		if err == nil || !strings.Contains(p.stderr.String(), "--to") {
			t.Fatalf("reverse-proxy --to no-port-here: exit %v, stderr %q; want a failure naming --to", err, p.stderr.String())
		}
	})
}
