package http1

import (
	"testing"

	"frontdoor/internal/desynctest"
)

// parseMessage runs the parser over a whole request, head then body, as
// the engine does: all at once, or one byte more per call. It returns the
// status of the refusal (0 when accepted, -1 when incomplete) and the body.
func parseMessage(raw []byte, bytewise bool) (int, []byte) {
	var r Request
	var n int
	var err error
	if bytewise {
		n, err = parseBytewise(raw, &r)
	} else {
		n, err = parseWhole(raw, &r)
	}
	if err != nil {
		return status(err), nil
	}
	rest := raw[n:]
	if r.Chunked {
		step := 0
		if bytewise {
			step = 1
		}
		body, _, done, err := decodeAll(rest, step)
		if err != nil {
			return status(err), nil
		}
		if !done {
			return -1, nil
		}
		return 0, body
	}
	if int64(len(rest)) < r.ContentLength {
		return -1, nil
	}
	return 0, rest[:r.ContentLength]
}

// TestMutations checks the parser's verdict on every case of frontdoor's
// own smuggling table (internal/desynctest); proxy/mutation_test.go runs
// the same table through the engine.
func TestMutations(t *testing.T) {
	ms := desynctest.Mutations()
	for _, m := range ms {
		t.Run(m.Group+"/"+m.Name, func(t *testing.T) {
			for _, bytewise := range []bool{false, true} {
				got, body := parseMessage([]byte(m.Raw+desynctest.FollowUp), bytewise)
				if got != m.Parser {
					t.Fatalf("bytewise=%v: status %d, want %d", bytewise, got, m.Parser)
				}
				if m.Status == 200 && string(body) != m.Body {
					t.Fatalf("bytewise=%v: body %q, want %q", bytewise, body, m.Body)
				}
			}
		})
	}
	verdicts := map[int]int{}
	for _, m := range ms {
		verdicts[m.Status]++
	}
	t.Logf("%d mutation cases; engine answers: %v", len(ms), verdicts)
}
