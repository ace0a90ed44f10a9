package acme

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxACMEResponse bounds an ACME response body; the largest are certificate
// chains of a few KiB.
const maxACMEResponse = 1 << 20

// errExchangeOver is returned for a new order asked for after its attempt
// ended.
var errExchangeOver = errors.New("acme: this ACME exchange is over; no order may be placed outside an attempt")

// exchange is the http.RoundTripper of one attempt's ACME client: every
// request to the CA for the name passes through it. It
//   - refuses new orders once the attempt is over (seal), so that nothing
//     left of an attempt can order on its own; other requests still pass,
//     so that authorizations left pending can be deactivated (they count
//     against the CA's pending limit);
//   - cancels requests when the manager closes;
//   - reports each new order (a POST whose JWS payload has "identifiers")
//     to onOrder: the counter that proves when no order was placed;
//   - keeps the CA's problem details of failed validations, in the CA's
//     own words, for status and the failure record;
//   - remembers a Retry-After the CA sent with a rate-limit response.
type exchange struct {
	base     http.RoundTripper
	lifetime context.Context // the manager's; cancelled by Close
	now      func() time.Time
	onOrder  func()

	mu         sync.Mutex
	sealed     bool
	problems   []string
	retryAfter time.Time
}

func (x *exchange) seal() {
	x.mu.Lock()
	x.sealed = true
	x.mu.Unlock()
}

// problem returns the CA's messages of this exchange, oldest first.
func (x *exchange) problem() string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return strings.Join(x.problems, "; ")
}

// notBefore returns the time before which the CA asked not to be asked
// again (zero if it did not say).
func (x *exchange) notBefore() time.Time {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.retryAfter
}

func (x *exchange) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := x.lifetime.Err(); err != nil {
		return nil, fmt.Errorf("acme: manager closed: %w", err)
	}

	ctx, cancel := context.WithCancel(req.Context())
	defer cancel()
	stop := context.AfterFunc(x.lifetime, cancel)
	defer stop()
	out := req.Clone(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		body, err := io.ReadAll(io.LimitReader(req.Body, maxACMEResponse))
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		if req.Method == http.MethodPost && isNewOrder(body) {
			x.mu.Lock()
			sealed := x.sealed
			x.mu.Unlock()
			if sealed {
				return nil, errExchangeOver
			}
			x.onOrder()
		}
	}

	resp, err := x.base.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	// Read the whole (small) body while ctx is alive, so that the body
	// handed back does not depend on it.
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxACMEResponse+1))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if len(body) > maxACMEResponse {
		return nil, fmt.Errorf("acme: response from %s is over %d bytes", req.URL, maxACMEResponse)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	x.observe(resp, body)
	return resp, nil
}

// acmeProblem is RFC 8555's error document (RFC 7807).
type acmeProblem struct {
	Type   string `json:"type"`
	Detail string `json:"detail"`
}

func (p *acmeProblem) String() string {
	t := strings.TrimPrefix(p.Type, "urn:ietf:params:acme:error:")
	if t == "" {
		return p.Detail
	}
	return fmt.Sprintf("%s (%s)", p.Detail, t)
}

// observe records problems the CA reports: error documents, and orders or
// authorizations that turned invalid (the result of a failed validation).
func (x *exchange) observe(resp *http.Response, body []byte) {
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	var found []string
	switch ct {
	case "application/problem+json":
		var p acmeProblem
		if json.Unmarshal(body, &p) == nil && p.Detail != "" {
			found = append(found, p.String())
		}
	case "application/json":
		var obj struct {
			Status     string       `json:"status"`
			Error      *acmeProblem `json:"error"`
			Challenges []struct {
				Type  string       `json:"type"`
				Error *acmeProblem `json:"error"`
			} `json:"challenges"`
		}
		if json.Unmarshal(body, &obj) != nil || obj.Status != "invalid" {
			break
		}
		for _, c := range obj.Challenges {
			if c.Error != nil {
				found = append(found, c.Type+": "+c.Error.String())
			}
		}
		if len(found) == 0 && obj.Error != nil {
			found = append(found, obj.Error.String())
		}
	}
	var until time.Time
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		until = parseRetryAfter(resp.Header.Get("Retry-After"), x.now())
	}
	if len(found) == 0 && until.IsZero() {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, f := range found {
		if !slices.Contains(x.problems, f) {
			x.problems = append(x.problems, f)
		}
	}
	if until.After(x.retryAfter) {
		x.retryAfter = until
	}
}

// parseRetryAfter reads a Retry-After header (seconds or an HTTP date).
func parseRetryAfter(v string, now time.Time) time.Time {
	if v == "" {
		return time.Time{}
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s > 0 {
		return now.Add(time.Duration(s) * time.Second)
	}
	if t, err := http.ParseTime(v); err == nil {
		return t
	}
	return time.Time{}
}

// isNewOrder reports whether a JWS request body asks for a new order: its
// payload is a JSON object with "identifiers" (RFC 8555 section 7.4). No
// other ACME request carries that member.
func isNewOrder(body []byte) bool {
	var jws struct {
		Payload string `json:"payload"`
	}
	if json.Unmarshal(body, &jws) != nil || jws.Payload == "" {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(jws.Payload)
	if err != nil {
		return false
	}
	var order struct {
		Identifiers json.RawMessage `json:"identifiers"`
	}
	return json.Unmarshal(payload, &order) == nil && len(order.Identifiers) > 0
}
