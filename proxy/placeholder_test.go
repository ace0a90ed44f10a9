package proxy

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestPlaceholderSaysRestart: the page served while no site is configured
// tells the administrator to restart after `frontdoor init`, not to
// reload: init changes the service's sandbox (its drop-in), which a reload
// does not apply, and the first migrate then fails with "unable to open
// database file".
func TestPlaceholderSaysRestart(t *testing.T) {
	te := startEngine(t, Config{})
	resp, err := http.Get("http://" + te.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 {
		t.Fatalf("status %d, want 503", resp.StatusCode)
	}
	page := string(body)
	if !strings.Contains(page, "frontdoor init") || !strings.Contains(page, "systemctl restart frontdoor") {
		t.Errorf("the placeholder does not say to run init, then restart:\n%s", page)
	}
	if strings.Contains(page, "systemctl reload") {
		t.Errorf("the placeholder advises a reload, which does not apply init's sandbox change:\n%s", page)
	}
}
