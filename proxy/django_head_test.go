package proxy

import (
	"strconv"
	"testing"
)

// TestDjangoHeadNeverPoisonsThePool is TestBodilessResponsesNeverPoisonThePool
// with the real culprit behind frontdoor: Debian 12's gunicorn 20.1 with
// Django 3.2 sends the body of a HEAD response after its head. One client
// asks HEAD /echo/ (whose body reflects the request) over and over while
// another asks GET /healthz/: every one of the victim's answers must be its
// own "ok".
func TestDjangoHeadNeverPoisonsThePool(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Django")
	}
	app := startDjango(t, copyExample(t), djangoOptions{workers: 2})
	cfg := djangoSite(app)
	cfg.Workers = 1
	te := startEngine(t, cfg)

	stop := hammer(t, te.addr, "HEAD", func(i int) string {
		return "HEAD /echo/?n=" + strconv.Itoa(i) + " HTTP/1.1\r\nHost: a\r\n\r\n"
	})
	rc := dial(t, te.addr)
	poisoned := 0
	const victims = 1000
	for i := 0; i < victims; i++ {
		rc.send("GET /healthz/ HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, body := rc.response("GET")
		if resp.StatusCode != 200 || body != "ok\n" {
			if poisoned < 5 {
				t.Errorf("victim %d got %d %q", i, resp.StatusCode, clip([]byte(body), 120))
			}
			poisoned++
		}
	}
	stop()
	if poisoned > 0 {
		t.Errorf("%d of %d victims got another response than their own", poisoned, victims)
	}
}
