package proxy

import "testing"

func TestHasField(t *testing.T) {
	for _, c := range []struct {
		lines string
		want  bool
	}{
		{"Content-Type: a\r\nX: b\r\n", true},
		{"X: b\r\nContent-Type: a\r\n", true},
		{"X: b\r\ncontent-type:a", true},
		{"CONTENT-TYPE: a\r\n", true},
		{"Content-Typo: a\r\n", false},
		{"X-Content-Type: a\r\n", false},
		{"Content-Type-X: a\r\n", false},
		{": Content-Type\r\n", false},
		{"X: Content-Type: a\r\n", false},
		{"", false},
	} {
		if got := hasField([]byte(c.lines), "content-type"); got != c.want {
			t.Errorf("hasField(%q) = %v, want %v", c.lines, got, c.want)
		}
	}
}
