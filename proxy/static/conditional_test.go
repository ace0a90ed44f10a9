package static

import "testing"

func TestParseRangeEdges(t *testing.T) {
	for _, tc := range []struct {
		v          string
		size       int64
		start, end int64
		ok         bool
	}{
		{"bytes=0-0", 10, 0, 1, true},
		{"bytes=-20", 10, 0, 10, true},
		{"bytes=-0", 10, -2, 0, false},
		{"bytes=10-", 10, -2, 0, false},
		{"bytes=0-", 0, -2, 0, false},
		{"bytes=99999999999999999999-", 10, -1, 0, false},
		{"bytes= 2 - 3", 10, 2, 4, true},
	} {
		s, e, ok := ParseRange([]byte(tc.v), tc.size)
		if s != tc.start || ok != tc.ok || (ok && e != tc.end) {
			t.Errorf("%q/%d: %d %d %v", tc.v, tc.size, s, e, ok)
		}
	}
}
