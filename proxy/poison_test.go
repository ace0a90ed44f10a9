package proxy

import (
	"bufio"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// bodyOnBodiless is an upstream that breaks RFC 9110 the way Debian 12's
// gunicorn 20.1 with Django 3.2 does on HEAD: after the head of a response
// that must have no body (HEAD, 204, 304) it sends a body anyway, a little
// later, in a write of its own. The body is itself a whole HTTP response,
// so that a proxy reading it as the next request's answer hands it to
// another client. Other requests get their own answer, "for <path>".
func bodyOnBodiless(c net.Conn) {
	defer c.Close()
	const poison = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\npoisoned"
	br := bufio.NewReader(c)
	var mu sync.Mutex // one write at a time: the late body and the next answer
	write := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		c.Write([]byte(s))
	}
	n := 0
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		n++
		var head string
		switch {
		case req.Method == "HEAD":
			head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(poison)) + "\r\n\r\n"
		case req.URL.Path == "/no-content":
			head = "HTTP/1.1 204 No Content\r\n\r\n"
		case req.URL.Path == "/not-modified":
			head = "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n"
		default:
			body := "for " + req.URL.Path
			write("HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
			continue
		}
		write(head)
		// The body follows the head at once, or a moment later (after
		// the proxy has read the head and moved on), in turn.
		if n%2 == 0 {
			write(poison)
		} else {
			go func() {
				time.Sleep(time.Duration(n%5) * 100 * time.Microsecond)
				write(poison)
			}()
		}
	}
}

// TestBodilessResponsesNeverPoisonThePool races an attacker whose requests
// get bodiless responses with a body glued behind (HEAD, 204, 304) against
// a victim's ordinary GETs through one worker, so both share its upstream
// pool: none of the victim's 1,000 requests may get anything but its own
// answer. Before, the connection went back to the pool after the head and
// the late body answered the next request on it.
func TestBodilessResponsesNeverPoisonThePool(t *testing.T) {
	addr := serveTCP(t, bodyOnBodiless)
	for _, attack := range []struct{ name, request string }{
		{"HEAD", "HEAD /page HTTP/1.1\r\nHost: a\r\n\r\n"},
		{"204", "GET /no-content HTTP/1.1\r\nHost: a\r\n\r\n"},
		{"304", "GET /not-modified HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"x\"\r\n\r\n"},
	} {
		t.Run(attack.name, func(t *testing.T) {
			cfg := proxySite(addr)
			cfg.Workers = 1
			te := startEngine(t, cfg)
			stop := hammer(t, te.addr, strings.Fields(attack.request)[0], func(int) string { return attack.request })
			rc := dial(t, te.addr)
			poisoned := 0
			const victims = 1000
			for i := 0; i < victims; i++ {
				path := "/victim/" + strconv.Itoa(i)
				rc.send("GET " + path + " HTTP/1.1\r\nHost: a\r\n\r\n")
				resp, body := rc.response("GET")
				if resp.StatusCode != 200 || body != "for "+path {
					if poisoned < 5 {
						t.Errorf("victim %d got %d %q", i, resp.StatusCode, body)
					}
					poisoned++
				}
			}
			stop()
			if poisoned > 0 {
				t.Errorf("%d of %d victims got another response than their own", poisoned, victims)
			}
		})
	}
}
