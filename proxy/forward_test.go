package proxy

import (
	"net/http"
	"strings"
	"testing"
)

// TestForwardedHead checks the request head the application receives for
// each way a client (trusted or not) can describe itself: which of its
// fields pass, which are dropped, and what frontdoor sets.
func TestForwardedHead(t *testing.T) {
	be := startBackend(t, true, http.HandlerFunc(echoHandler))
	cfg := proxySite(be.addr)
	// 127.0.0.2 is a trusted proxy (and, with the preset, one whose
	// CF-Connecting-IP is believed); 127.0.0.3 is nobody.
	cfg.Proxy.TrustedProxies = []string{"cloudflare", "127.0.0.2"}
	te := startEngine(t, cfg)

	longID := strings.Repeat("azAZ09-_.:=+/", 10)[:128]
	tests := []struct {
		name    string
		from    string
		headers string
		// want has the fields to check ("" means absent); without an
		// X-Request-Id in it, the ID must be one frontdoor made.
		want map[string]string
	}{
		{"request ID of 128 characters of the allowed set kept", "127.0.0.3",
			"X-Request-ID: " + longID + "\r\n", map[string]string{"X-Request-Id": longID}},
		{"request ID of every boundary character kept", "127.0.0.3",
			"X-Request-ID: azAZ09-_.:=+/\r\n", map[string]string{"X-Request-Id": "azAZ09-_.:=+/"}},
		{"request ID of 129 characters replaced", "127.0.0.3", "X-Request-ID: " + longID + "a\r\n", nil},
		{"request ID with a space replaced", "127.0.0.3", "X-Request-ID: a b\r\n", nil},
		{"request ID with a comma replaced", "127.0.0.3", "X-Request-ID: a,b\r\n", nil},
		{"empty request ID replaced", "127.0.0.3", "X-Request-ID:\r\n", nil},
		{"first valid request ID kept", "127.0.0.3", "X-Request-ID: a!\r\nX-Request-ID: second\r\n",
			map[string]string{"X-Request-Id": "second"}},
		{"field named by Connection after an empty element dropped", "127.0.0.3",
			"Connection: ,X-Secret\r\nX-Secret: 1\r\nX-Kept: 2\r\n", map[string]string{"X-Secret": "", "X-Kept": "2"}},
		{"field named by Connection in another case dropped", "127.0.0.3",
			"Connection: x-secret , keep-alive\r\nX-Secret: 1\r\n", map[string]string{"X-Secret": ""}},
		{"a name that only starts like a Connection token kept", "127.0.0.3",
			"Connection: X-Sec\r\nX-Secret: 1\r\n", map[string]string{"X-Secret": "1"}},
		{"CF-Connecting-IP from a trusted proxy believed", "127.0.0.2",
			"CF-Connecting-IP: 198.51.100.7\r\nX-Forwarded-For: 203.0.113.9\r\n",
			map[string]string{"X-Real-Ip": "198.51.100.7", "Cf-Connecting-Ip": "198.51.100.7",
				"X-Forwarded-For": "203.0.113.9, 127.0.0.2"}},
		{"CF-Connecting-IP that is no address: X-Forwarded-For instead", "127.0.0.2",
			"CF-Connecting-IP: nonsense\r\nX-Forwarded-For: 203.0.113.9\r\n",
			map[string]string{"X-Real-Ip": "203.0.113.9"}},
		{"CF-Connecting-IP from anybody else dropped", "127.0.0.3",
			"CF-Connecting-IP: 198.51.100.7\r\nX-Forwarded-For: 203.0.113.9\r\n",
			map[string]string{"X-Real-Ip": "127.0.0.3", "Cf-Connecting-Ip": "", "X-Forwarded-For": "127.0.0.3"}},
		{"forwarding fields of a trusted proxy: lists joined, first host and proto", "127.0.0.2",
			"X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-For: 198.51.100.1, 127.0.0.9\r\n" +
				"X-Forwarded-Host: first.example\r\nX-Forwarded-Host: second.example\r\n" +
				"X-Forwarded-Proto: https\r\nX-Forwarded-Proto: http\r\n",
			map[string]string{"X-Forwarded-For": "203.0.113.9, 198.51.100.1, 127.0.0.9, 127.0.0.2",
				"X-Forwarded-Host": "first.example", "X-Forwarded-Proto": "https", "X-Real-Ip": "127.0.0.9"}},
		{"forwarding fields of anybody else replaced", "127.0.0.3",
			"X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: https\r\n" +
				"X-Real-IP: 203.0.113.9\r\nForwarded: for=203.0.113.9\r\n",
			map[string]string{"X-Forwarded-For": "127.0.0.3", "X-Forwarded-Host": "app.example",
				"X-Forwarded-Proto": "http", "X-Real-Ip": "127.0.0.3", "Forwarded": ""}},
		{"a chain of trusted proxies only: the peer", "127.0.0.2",
			"X-Forwarded-For: 127.0.0.2\r\n", map[string]string{"X-Real-Ip": "127.0.0.2"}},
		{"a chain that stops being addresses: the peer", "127.0.0.2",
			"X-Forwarded-For: 203.0.113.9, unknown\r\n", map[string]string{"X-Real-Ip": "127.0.0.2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialFrom(t, tc.from, te.addr)
			rc.send("GET /f HTTP/1.1\r\nHost: app.example\r\n" + tc.headers + "\r\n")
			resp, body := rc.response("GET")
			if resp.StatusCode != 200 {
				t.Fatalf("status %d %q", resp.StatusCode, body)
			}
			e := decodeEcho(t, body)
			for name, want := range tc.want {
				if got, ok := e.Headers[name]; got != want || (want == "" && ok) {
					t.Errorf("%s: %q (present %v), want %q", name, got, ok, want)
				}
			}
			id := e.Headers["X-Request-Id"]
			_, given := tc.want["X-Request-Id"]
			if made := len(id) == 32 && strings.Trim(id, "0123456789abcdef") == ""; made == given {
				t.Errorf("X-Request-Id %q: made by frontdoor %v, want %v", id, made, !given)
			}
			if got := resp.Header.Get("X-Request-Id"); got != id {
				t.Errorf("the client was told request ID %q, the application %q", got, id)
			}
		})
	}
}
