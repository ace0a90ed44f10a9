package proxy

import (
	"html"
	"strconv"
	"time"
)

// DefaultMaintenanceMessage is what the maintenance page says when the
// administrator gives no message.
const DefaultMaintenanceMessage = "This site is down for maintenance. Please come back in a few minutes."

// MaintenancePage is frontdoor's own maintenance page, in the style of its
// other pages, with message (plain text; "" for the default).
func MaintenancePage(message string) []byte {
	if message == "" {
		message = DefaultMaintenanceMessage
	}
	return brandedPage("Down for maintenance", html.EscapeString(message))
}

// maintenancePage is a group's answer while its application is in
// maintenance mode: made once, shared read-only by every worker.
type maintenancePage struct {
	body []byte
	// extra holds the header lines besides the page's own: Retry-After.
	extra string
}

// newMaintenancePage prepares the answer for page (nil: no maintenance).
func newMaintenancePage(page []byte, retryAfter time.Duration) *maintenancePage {
	if page == nil {
		return nil
	}
	secs := int64((retryAfter + time.Second - 1) / time.Second)
	if secs <= 0 {
		secs = 120
	}
	return &maintenancePage{body: page, extra: "Retry-After: " + strconv.FormatInt(secs, 10) + "\r\n"}
}

// respondMaintenance answers a request for a group in maintenance: 503,
// Retry-After, the page. A body the client sent is not read: the
// connection lingers and closes after the answer, as for the 503 while the
// application is down.
func (w *worker) respondMaintenance(c *conn, m *maintenancePage) {
	ex := c.ex
	if ex.req.ContentLength != 0 && c.state != stateUpstream {
		ex.keepAlive, ex.linger = false, true
	}
	w.timers.stop(&c.timer)
	c.state = stateWrite
	if ex.px != nil {
		w.releaseUp(ex.px, false)
		ex.px.upDone = true
	}
	w.writePage(c, 503, m.extra, m.body)
}
