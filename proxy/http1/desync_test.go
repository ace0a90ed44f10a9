package http1

import (
	"testing"

	"frontdoor/internal/desynctest"
)

// TestDesyncGuardian runs every case of aws/http-desync-guardian's suite
// through the parser alone, whole and byte at a time. The verdicts, and the
// cases frontdoor judges more strictly than the suite, are documented in
// internal/desynctest (StricterThanAcceptable, RefusedCompliant); the same
// cases go through the running engine in proxy/desync_e2e_test.go.
func TestDesyncGuardian(t *testing.T) {
	counts := map[string]int{}
	for _, c := range desynctest.Load(t) {
		t.Run(c.File+"/"+c.Name, func(t *testing.T) {
			want, err := desynctest.ParserVerdict(&c)
			if err != nil {
				t.Fatal(err)
			}
			raw := c.Raw()
			var r Request
			_, err = parseWhole(raw, &r)
			got := status(err)
			var r2 Request
			_, err2 := parseBytewise(raw, &r2)
			if got2 := status(err2); got2 != got {
				t.Fatalf("byte at a time gives %d, all at once %d", got2, got)
			}
			switch {
			case want == desynctest.AnyRefusal:
				if got < 400 {
					t.Fatalf("%s (%s): status %d, want a refusal", c.Expected.Tier, c.Expected.Reason, got)
				}
			case got != want:
				t.Fatalf("%s (%s): status %d (%v), want %d", c.Expected.Tier, c.Expected.Reason, got, err, want)
			}
			counts[c.Expected.Tier]++
		})
	}
	t.Logf("cases passed per tier: %v", counts)
}
