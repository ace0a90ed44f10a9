package state

import (
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestEventsAreCappedNewestFirst(t *testing.T) {
	db := openTemp(t, Options{MaxEvents: 5})
	base := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range 8 {
		err := db.AddEvent(Event{Time: base.Add(time.Duration(i) * time.Second), Source: "test", Kind: "n", Message: fmt.Sprint(i), Attrs: map[string]string{"i": fmt.Sprint(i)}})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		n    int
		want []string
	}{
		{0, []string{"7", "6", "5", "4", "3"}},
		{2, []string{"7", "6"}},
		{100, []string{"7", "6", "5", "4", "3"}},
	} {
		ev, err := db.Events(c.n)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range ev {
			got = append(got, e.Message)
			var i int
			fmt.Sscan(e.Message, &i)
			if e.Attrs["i"] != e.Message || e.Source != "test" || e.Kind != "n" || !e.Time.Equal(base.Add(time.Duration(i)*time.Second)) {
				t.Errorf("event %+v lost fields", e)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("Events(%d) = %v, want %v", c.n, got, c.want)
		}
	}
}

// TestLoweredCapTrimsAtNextAppend: a file written under a larger cap,
// opened with a smaller one, is cut down to the new cap by the next
// append, oldest first, and stays there.
func TestLoweredCapTrimsAtNextAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := Open(path, Options{MaxEvents: 10})
	must(t, err)
	base := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	add := func(db *DB, i int) {
		t.Helper()
		must(t, db.AddEvent(Event{Time: base.Add(time.Duration(i) * time.Second), Message: fmt.Sprint(i)}))
	}
	for i := range 10 {
		add(db, i)
	}
	must(t, db.Close())
	db, err = Open(path, Options{MaxEvents: 3})
	must(t, err)
	defer db.Close()
	for i := 10; i < 12; i++ {
		add(db, i)
		ev, err := db.Events(0)
		must(t, err)
		var got []string
		for _, e := range ev {
			got = append(got, e.Message)
		}
		want := []string{fmt.Sprint(i), fmt.Sprint(i - 1), fmt.Sprint(i - 2)}
		if !slices.Equal(got, want) {
			t.Fatalf("after event %d under a cap of 3: %v, want %v", i, got, want)
		}
	}
}

func TestLogsAreTimeOrdered(t *testing.T) {
	db := openTemp(t, Options{})
	base := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	// Written out of order; two share a time and must keep insertion order.
	for _, c := range []struct {
		offset time.Duration
		msg    string
	}{{2 * time.Second, "c"}, {0, "a"}, {time.Second, "b1"}, {time.Second, "b2"}, {3 * time.Second, "d"}} {
		if err := db.AddEvent(Event{Time: base.Add(c.offset), Message: c.msg}); err != nil {
			t.Fatal(err)
		}
	}
	ev, err := db.Events(0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ev {
		got = append(got, e.Message)
	}
	if want := []string{"d", "c", "b2", "b1", "a"}; !slices.Equal(got, want) {
		t.Errorf("order = %v, want %v", got, want)
	}
}

func TestZeroTimeIsStamped(t *testing.T) {
	db := openTemp(t, Options{})
	before := time.Now()
	if err := db.AddHealthTransition(HealthTransition{Component: "postgres", From: "up", To: "down"}); err != nil {
		t.Fatal(err)
	}
	h, err := db.HealthTransitions(1)
	if err != nil || len(h) != 1 {
		t.Fatal(h, err)
	}
	if h[0].Time.Before(before.Add(-time.Second)) || h[0].Time.After(time.Now().Add(time.Second)) {
		t.Errorf("stamped time %v is not now", h[0].Time)
	}
}

// Each history keeps its own records and its own cap.
func TestHistories(t *testing.T) {
	db := openTemp(t, Options{MaxRestarts: 2, MaxHealth: 2, MaxConfigs: 2})
	at := func(i int) time.Time { return time.Date(2025, 1, 1, 0, 0, i, 0, time.UTC) }
	for i := range 3 {
		must(t, db.AddRestart(Restart{Time: at(i), Process: "web", PID: 100 + i, ExitCode: -1, Signal: "SIGKILL", Stderr: []string{"line", fmt.Sprint(i)}}))
		must(t, db.AddHealthTransition(HealthTransition{Time: at(i), Component: "postgres", From: "up", To: fmt.Sprint(i), Detail: "d"}))
		must(t, db.AddConfig(AppliedConfig{Time: at(i), Hash: fmt.Sprint("h", i), Text: "domains = []"}))
	}
	r, err := db.Restarts(0)
	must(t, err)
	if len(r) != 2 || r[0].PID != 102 || r[1].PID != 101 || r[0].Signal != "SIGKILL" || !slices.Equal(r[0].Stderr, []string{"line", "2"}) || !r[0].Time.Equal(at(2)) {
		t.Errorf("Restarts = %+v", r)
	}
	h, err := db.HealthTransitions(0)
	must(t, err)
	if len(h) != 2 || h[0].To != "2" || h[1].To != "1" {
		t.Errorf("HealthTransitions = %+v", h)
	}
	c, err := db.Configs(1)
	must(t, err)
	if len(c) != 1 || c[0].Hash != "h2" || c[0].Text != "domains = []" {
		t.Errorf("Configs(1) = %+v", c)
	}
	ev, err := db.Events(0)
	must(t, err)
	if len(ev) != 0 {
		t.Errorf("histories leaked into the event log: %+v", ev)
	}
}

func TestConcurrentWriters(t *testing.T) {
	for _, c := range []struct {
		name         string
		max, writers int
		each         int
	}{
		{"uncapped", 10000, 8, 50},
		{"capped", 100, 8, 50},
	} {
		t.Run(c.name, func(t *testing.T) {
			db := openTemp(t, Options{MaxEvents: c.max})
			var wg sync.WaitGroup
			errs := make(chan error, c.writers*c.each+c.writers)
			for w := range c.writers {
				wg.Go(func() {
					for i := range c.each {
						if err := db.AddEvent(Event{Source: fmt.Sprint("w", w), Message: fmt.Sprint(w, "/", i)}); err != nil {
							errs <- err
						}
						if i%10 == 0 {
							if _, err := db.Events(20); err != nil {
								errs <- err
							}
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			ev, err := db.Events(0)
			must(t, err)
			total := c.writers * c.each
			if want := min(total, c.max); len(ev) != want {
				t.Errorf("%d events kept, want %d", len(ev), want)
			}
			seen := map[string]bool{}
			for _, e := range ev {
				if seen[e.Message] {
					t.Errorf("duplicate event %q", e.Message)
				}
				seen[e.Message] = true
			}
			if c.max >= total {
				for w := range c.writers {
					for i := range c.each {
						if !seen[fmt.Sprint(w, "/", i)] {
							t.Errorf("event %d/%d lost", w, i)
						}
					}
				}
			}
			// The kept count must stay exact so that later appends keep the cap.
			must(t, db.AddEvent(Event{Message: "one more"}))
			ev, _ = db.Events(0)
			if want := min(total+1, c.max); len(ev) != want {
				t.Errorf("after one more append: %d events, want %d", len(ev), want)
			}
			if err := db.Check(); err != nil {
				t.Error(err)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
