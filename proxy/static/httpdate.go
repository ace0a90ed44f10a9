package static

import "time"

// httpTimeFormat is IMF-fixdate (RFC 9110 §5.6.7).
const httpTimeFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

// parseHTTPDate parses an IMF-fixdate without allocating. Obsolete formats
// (RFC 850, asctime) are not accepted: a conditional request with one simply
// gets a full response.
func parseHTTPDate(b []byte) (int64, bool) {
	// "Sun, 06 Nov 1994 08:49:37 GMT"
	if len(b) != 29 || b[3] != ',' || b[4] != ' ' || b[7] != ' ' || b[11] != ' ' ||
		b[16] != ' ' || b[19] != ':' || b[22] != ':' || b[25] != ' ' || string(b[26:]) != "GMT" {
		return 0, false
	}
	num := func(s []byte) (int, bool) {
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	day, ok1 := num(b[5:7])
	year, ok2 := num(b[12:16])
	hour, ok3 := num(b[17:19])
	minute, ok4 := num(b[20:22])
	sec, ok5 := num(b[23:25])
	if !(ok1 && ok2 && ok3 && ok4 && ok5) {
		return 0, false
	}
	month := 0
	for i, m := range [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"} {
		if string(b[8:11]) == m {
			month = i + 1
		}
	}
	if month == 0 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 60 {
		return 0, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC).Unix(), true
}
