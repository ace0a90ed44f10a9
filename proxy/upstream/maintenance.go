package upstream

import (
	"strconv"
	"time"
)

// Maintenance is a group's answer while its application is in maintenance
// mode: made once, shared read-only by every worker.
type Maintenance struct {
	// Page is the HTML body of every answer.
	Page []byte
	// Extra holds the header lines besides the page's own: Retry-After.
	Extra string
}

// NewMaintenance prepares the answer for page (nil: no maintenance), with
// Retry-After retryAfter rounded up to whole seconds (120 when not
// positive).
func NewMaintenance(page []byte, retryAfter time.Duration) *Maintenance {
	if page == nil {
		return nil
	}
	secs := int64((retryAfter + time.Second - 1) / time.Second)
	if secs <= 0 {
		secs = 120
	}
	return &Maintenance{Page: page, Extra: "Retry-After: " + strconv.FormatInt(secs, 10) + "\r\n"}
}
