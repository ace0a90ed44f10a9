package static

// contentTypes maps file extensions (lower case, with the dot) to media
// types. It is fixed here rather than read from /etc/mime.types so that a
// site is served the same way on every machine.
var contentTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".htm":         "text/html; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".json":        "application/json",
	".map":         "application/json",
	".webmanifest": "application/manifest+json",
	".xml":         "application/xml",
	".txt":         "text/plain; charset=utf-8",
	".csv":         "text/csv; charset=utf-8",
	".md":          "text/markdown; charset=utf-8",
	".svg":         "image/svg+xml",
	".png":         "image/png",
	".jpg":         "image/jpeg",
	".jpeg":        "image/jpeg",
	".gif":         "image/gif",
	".webp":        "image/webp",
	".avif":        "image/avif",
	".ico":         "image/vnd.microsoft.icon",
	".bmp":         "image/bmp",
	".woff":        "font/woff",
	".woff2":       "font/woff2",
	".ttf":         "font/ttf",
	".otf":         "font/otf",
	".eot":         "application/vnd.ms-fontobject",
	".pdf":         "application/pdf",
	".zip":         "application/zip",
	".gz":          "application/gzip",
	".tar":         "application/x-tar",
	".wasm":        "application/wasm",
	".mp4":         "video/mp4",
	".webm":        "video/webm",
	".ogv":         "video/ogg",
	".mp3":         "audio/mpeg",
	".ogg":         "audio/ogg",
	".oga":         "audio/ogg",
	".wav":         "audio/wav",
	".flac":        "audio/flac",
	".m4a":         "audio/mp4",
	".vtt":         "text/vtt; charset=utf-8",
	".ics":         "text/calendar; charset=utf-8",
	".rss":         "application/rss+xml",
	".atom":        "application/atom+xml",
	".epub":        "application/epub+zip",
	".doc":         "application/msword",
	".docx":        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	".xls":         "application/vnd.ms-excel",
	".xlsx":        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	".ppt":         "application/vnd.ms-powerpoint",
	".pptx":        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}

// defaultContentType is sent for unknown extensions; with nosniff set on
// static responses a browser will not guess a script out of it.
const defaultContentType = "application/octet-stream"

// contentTypeFor returns the media type for a file name.
func contentTypeFor(name string) string {
	dot := -1
	for i := len(name) - 1; i >= 0 && name[i] != '/'; i-- {
		if name[i] == '.' {
			dot = i
			break
		}
	}
	if dot < 0 {
		return defaultContentType
	}
	ext := name[dot:]
	if t, ok := contentTypes[ext]; ok {
		return t
	}
	lowered := make([]byte, len(ext))
	for i := range ext {
		c := ext[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lowered[i] = c
	}
	if t, ok := contentTypes[string(lowered)]; ok {
		return t
	}
	return defaultContentType
}

// Compressible reports whether a media type benefits from compression
// (used for response compression of proxied content).
func Compressible(ct string) bool {
	for _, p := range []string{"text/", "application/json", "application/javascript", "application/xml",
		"application/manifest+json", "image/svg+xml", "application/rss+xml", "application/atom+xml", "application/wasm"} {
		if len(ct) >= len(p) && ct[:len(p)] == p {
			return true
		}
	}
	return false
}
