package static

import "testing"

func TestContentTypeFor(t *testing.T) {
	for _, c := range []struct{ name, want string }{
		{"site.css", "text/css; charset=utf-8"},
		{"a/b/app.0123456789ab.js", "text/javascript; charset=utf-8"},
		{"PHOTO.AVIF", "image/avif"},
		{"Archive.ZIP", "application/zip"},
		{"mixed.WebManifest", "application/manifest+json"},
		{"backup.tar.gz", "application/gzip"},
		{"README", defaultContentType},
		{"", defaultContentType},
		{"a", defaultContentType},
		{"dir.d/README", defaultContentType}, // a dot in a directory is no extension
		{"file.", defaultContentType},
		{"file.unknown", defaultContentType},
		{"file.UNKNOWN", defaultContentType},
		{".css", "text/css; charset=utf-8"},
	} {
		if got := contentTypeFor(c.name); got != c.want {
			t.Errorf("contentTypeFor(%q) = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestCompressible(t *testing.T) {
	for ct, want := range map[string]bool{
		"text/html; charset=utf-8":     true,
		"text/":                        true,
		"application/json":             true,
		"application/javascript":       true,
		"application/xml":              true,
		"application/manifest+json":    true,
		"image/svg+xml":                true,
		"application/rss+xml":          true,
		"application/atom+xml":         true,
		"application/wasm":             true,
		"text":                         false,
		"tex":                          false,
		"":                             false,
		"image/png":                    false,
		"application/octet-stream":     false,
		"application/zip":              false,
		"video/mp4":                    false,
		"application/vnd.ms-excel":     false,
		"font/woff2":                   false,
		"application/x-www-form-urlen": false,
	} {
		if got := Compressible(ct); got != want {
			t.Errorf("Compressible(%q) = %v, want %v", ct, got, want)
		}
	}
}
