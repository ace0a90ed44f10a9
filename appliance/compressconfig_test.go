package appliance

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
)

// TestCompressionConfig: compression is on by default, [proxy] compress =
// false turns it off, a route's compress = false turns it off for that
// route (proxied: no on-the-fly compression; static: no siblings), and the
// [app]'s STATIC_ROOT route looks for siblings kept in the state
// directory (a package's STATIC_ROOT frontdoor may not write).
func TestCompressionConfig(t *testing.T) {
	dir := fakeProject(t)
	static := filepath.Join(dir, "staticfiles")
	state := filepath.Join(t.TempDir(), "state.db")
	base := fmt.Sprintf("[server]\nstate = %q\n[app]\ndir = %q\nstatic_url = \"/static/\"\nstatic_root = %q\n", state, dir, static)
	routes := fmt.Sprintf("[[site]]\n[[site.route]]\npath = \"/\"\nupstream = \"app\"\n[[site.route]]\npath = \"/api/\"\nupstream = \"app\"\ncompress = false\n"+
		"[[site.route]]\npath = \"/static/\"\nstatic = %q\n[[site.route]]\npath = \"/raw/\"\nstatic = %q\ncompress = false\n", static, dir)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	c, err := ParseConfig("f.toml", []byte(base+routes))
	if err != nil {
		t.Fatal(err)
	}
	pc := c.engineConfig(log, nil)
	if pc.Proxy.Compress.Off {
		t.Errorf("compression is off by default")
	}
	r := pc.Sites[0].Routes
	if r[0].NoCompress || !r[1].NoCompress {
		t.Errorf("route compress: / %v, /api/ %v", r[0].NoCompress, r[1].NoCompress)
	}
	if want := filepath.Join(filepath.Dir(state), "compressed", static); r[2].Static.VariantRoot != want || r[2].Static.NoPrecompressed {
		t.Errorf("STATIC_ROOT route: variants %q (want %q), precompressed off %v", r[2].Static.VariantRoot, want, r[2].Static.NoPrecompressed)
	}
	if r[3].Static.VariantRoot != "" || !r[3].Static.NoPrecompressed {
		t.Errorf("the other static route: %+v", r[3].Static)
	}
	if sc := c.Apps[0].supervisorConfig("/run/x"); sc.NoCompressStatic {
		t.Errorf("compress_static is off by default")
	}

	off, err := ParseConfig("f.toml", []byte(base+"compress_static = false\n[proxy]\ncompress = false\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !off.engineConfig(log, nil).Proxy.Compress.Off || !off.Apps[0].supervisorConfig("/run/x").NoCompressStatic {
		t.Errorf("[proxy] compress = false / compress_static = false not applied")
	}
}
