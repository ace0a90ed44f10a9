package static

import (
	"net/http"
	"testing"
	"time"
)

// TestParseHTTPDate: IMF-fixdate at the edges of every field is read as
// net/http reads it; anything else (another format, a field out of range,
// a separator out of place) is no date at all.
func TestParseHTTPDate(t *testing.T) {
	valid := []string{
		"Sun, 06 Nov 1994 08:49:37 GMT",
		"Thu, 01 Jan 1970 00:00:00 GMT",
		"Fri, 31 Dec 1999 23:59:59 GMT",
		"Sat, 30 Jun 2012 23:59:60 GMT", // a leap second
		"Mon, 09 Sep 2999 19:09:39 GMT",
		"Tue, 01 Feb 2000 00:00:00 GMT", "Wed, 01 Mar 2000 00:00:00 GMT", "Sat, 01 Apr 2000 00:00:00 GMT",
		"Mon, 01 May 2000 00:00:00 GMT", "Thu, 01 Jun 2000 00:00:00 GMT", "Sat, 01 Jul 2000 00:00:00 GMT",
		"Tue, 01 Aug 2000 00:00:00 GMT", "Fri, 01 Sep 2000 00:00:00 GMT", "Sun, 01 Oct 2000 00:00:00 GMT",
		"Wed, 01 Nov 2000 00:00:00 GMT", "Fri, 01 Dec 2000 00:00:00 GMT",
	}
	for _, s := range valid {
		got, ok := parseHTTPDate([]byte(s))
		want, err := http.ParseTime(s)
		if s == "Sat, 30 Jun 2012 23:59:60 GMT" {
			want, err = time.Date(2012, 7, 1, 0, 0, 0, 0, time.UTC), nil
		}
		if err != nil {
			t.Fatalf("test setup: %q: %v", s, err)
		}
		if !ok || got != want.Unix() {
			t.Errorf("%q: %d %v, want %d", s, got, ok, want.Unix())
		}
	}
	invalid := []string{
		"",
		"Sun, 06 Nov 1994 08:49:37 GM",
		"Sun, 06 Nov 1994 08:49:37 GMT ",
		"Sun, 06 Nov 1994 08:49:37 UTC",
		"Sunday, 06-Nov-94 08:49:37 GMT", // RFC 850
		"Sun Nov  6 08:49:37 1994",       // asctime
		"Sun; 06 Nov 1994 08:49:37 GMT",
		"Sun,_06 Nov 1994 08:49:37 GMT",
		"Sun, 06_Nov 1994 08:49:37 GMT",
		"Sun, 06 Nov_1994 08:49:37 GMT",
		"Sun, 06 Nov 1994_08:49:37 GMT",
		"Sun, 06 Nov 1994 08_49:37 GMT",
		"Sun, 06 Nov 1994 08:49_37 GMT",
		"Sun, 06 Nov 1994 08:49:37_GMT",
		"Sun, 00 Nov 1994 08:49:37 GMT",
		"Sun, 32 Nov 1994 08:49:37 GMT",
		"Sun, 06 Nov 1994 24:49:37 GMT",
		"Sun, 06 Nov 1994 08:60:37 GMT",
		"Sun, 06 Nov 1994 08:49:61 GMT",
		"Sun, 06 Nev 1994 08:49:37 GMT",
		"Sun, 06 nov 1994 08:49:37 GMT",
		"Sun, 0x Nov 1994 08:49:37 GMT",
		"Sun, 06 Nov 19/4 08:49:37 GMT",
		"Sun, 06 Nov 1994 0:849:37 GMT",
		"Sun, 06 Nov 1994 08:4::37 GMT",
		"Sun, 06 Nov 1994 08:49:3: GMT",
	}
	for _, s := range invalid {
		if got, ok := parseHTTPDate([]byte(s)); ok {
			t.Errorf("%q read as %d", s, got)
		}
	}
}
