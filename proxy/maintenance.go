package proxy

import (
	"html"

	"frontdoor/proxy/upstream"
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

// respondMaintenance answers a request for a group in maintenance: 503,
// Retry-After, the page. A body the client sent is not read: the
// connection lingers and closes after the answer, as for the 503 while the
// application is down.
func (ex *exchange) respondMaintenance(m *upstream.Maintenance) {
	if ex.phase != phaseUpstream {
		ex.skipBody() // the body was not read
	}
	ex.w.loop.Disarm(&ex.timer)
	ex.phase = phaseRespond
	if px := ex.px; px != nil {
		px.releaseUp(false)
		px.phase = upComplete // nothing comes from upstream
	}
	ex.writePage(503, m.Extra, m.Page)
}
