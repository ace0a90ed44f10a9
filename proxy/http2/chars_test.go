package http2

import "testing"

func TestValidValue(t *testing.T) {
	slow := func(v []byte) bool {
		if len(v) > 0 && (v[0] == ' ' || v[0] == '\t' || v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
			return false
		}
		for _, c := range v {
			if (c < 0x20 && c != '\t') || c == 0x7f {
				return false
			}
		}
		return true
	}
	base := []byte("Mozilla/5.0 (X11; Linux x86_64) \x80\xff obs-text ok")
	for pos := 0; pos < len(base); pos++ {
		for c := 0; c < 256; c++ {
			v := append([]byte(nil), base...)
			v[pos] = byte(c)
			if validValue(v) != slow(v) {
				t.Fatalf("byte %#x at %d: %v", c, pos, validValue(v))
			}
		}
	}
}
