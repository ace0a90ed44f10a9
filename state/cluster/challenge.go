package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Challenge answers for whichever edge the CA reaches. The ordering edge
// publishes an answer (PresentChallenge) before it tells the CA to
// validate: every edge loads it into memory as soon as the notification
// arrives and confirms with an "ack" notification, and the ordering edge
// waits for the confirmations of every live edge (bounded by
// ChallengeWait). The engine then answers from memory (LookupChallenge,
// LookupALPN): an HTTP-01 answer is looked up on an event loop, which
// must never wait for the database.

// Challenge kinds.
const (
	KindHTTP01    = "http-01"
	KindTLSALPN01 = "tls-alpn-01"
	// KindProbe is the resolve check's self-probe: an HTTP-01-like token
	// that proves the name leads to an edge of the cluster.
	KindProbe = "probe"
)

// challengeTTL bounds how long an answer is kept when its edge does not
// withdraw it (it died mid-order).
const challengeTTL = 10 * time.Minute

// challengeSpace is the sealing place of challenge answers.
const challengeSpace = "challenge"

type challenge struct {
	id      int64
	name    string
	kind    string
	answer  string
	expires time.Time
}

// ackWaiter collects the instances that confirmed one challenge.
type ackWaiter struct {
	got  map[string]bool
	wake chan struct{}
}

// PresentChallenge publishes the answer to challenge token of kind for
// name to every edge, and returns once every live edge has confirmed it
// has it, or after ChallengeWait (an edge that does not answer is logged,
// and the CA is asked anyway: it may well reach this edge). It returns
// ErrUnavailable while the database is away.
func (s *Store) PresentChallenge(ctx context.Context, name, kind, token, answer string) error {
	pool := s.currentPool()
	if pool == nil {
		return ErrUnavailable
	}
	octx, cancel := s.opContext(ctx)
	defer cancel()
	var id int64
	if err := pool.QueryRow(octx, "SELECT nextval('challenge_ids')").Scan(&id); err != nil {
		s.opFailed(err)
		return fmt.Errorf("cluster: publish the challenge for %s: %w", name, err)
	}
	w := &ackWaiter{got: map[string]bool{}, wake: make(chan struct{}, 1)}
	s.mu.Lock()
	s.ackWaiters[id] = w
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.ackWaiters, id)
		s.mu.Unlock()
	}()
	_, err := pool.Exec(octx, `WITH w AS (
		INSERT INTO challenges (token, id, name, kind, answer, holder, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))
		ON CONFLICT (token) DO UPDATE SET id = EXCLUDED.id, name = EXCLUDED.name, kind = EXCLUDED.kind,
			answer = EXCLUDED.answer, holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
		RETURNING id)
		SELECT pg_notify($8, json_build_object('k', 'ch', 't', $1::text, 'id', id, 'i', $6::text)::text) FROM w`,
		token, id, name, kind, s.seal.seal(challengeSpace, token, []byte(answer)), s.instance, challengeTTL.Seconds(), s.channel())
	if err != nil {
		s.opFailed(err)
		return fmt.Errorf("cluster: publish the challenge for %s: %w", name, err)
	}
	peers, err := s.livePeers(octx, pool)
	if err != nil {
		s.opFailed(err)
		return fmt.Errorf("cluster: list the live edges: %w", err)
	}
	deadline := time.NewTimer(s.opts.ChallengeWait)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		var missing []string
		for _, p := range peers {
			if !w.got[p] {
				missing = append(missing, p)
			}
		}
		s.mu.Unlock()
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-w.wake:
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			s.log.Warn("some live edges did not confirm a challenge answer in time; asking the CA anyway",
				"name", name, "kind", kind, "missing", missing, "waited", s.opts.ChallengeWait)
			return nil
		}
	}
}

// livePeers lists the other edges whose heartbeat is recent.
func (s *Store) livePeers(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	rows, err := pool.Query(ctx, `SELECT instance FROM edges
		WHERE heartbeat_at > now() - make_interval(secs => $1) AND instance <> $2`,
		(liveHeartbeats * s.opts.Heartbeat).Seconds(), s.instance)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// WithdrawChallenge removes a published answer (in the background; the
// answer expires by itself anyway).
func (s *Store) WithdrawChallenge(name, token string) {
	pool := s.currentPool()
	if pool == nil {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := s.opContext(context.Background())
		defer cancel()
		payload, _ := json.Marshal(notice{Kind: "chdel", Token: token, Instance: s.instance})
		_, err := pool.Exec(ctx, `WITH d AS (DELETE FROM challenges WHERE token = $1 RETURNING token)
			SELECT pg_notify($2, $3) FROM d`, token, s.channel(), string(payload))
		if err != nil {
			s.log.Debug("withdrawing a challenge answer", "name", name, "err", err)
		}
	}()
}

// receiveChallenge loads a challenge another edge published and confirms
// it.
func (s *Store) receiveChallenge(ctx context.Context, pool *pgxpool.Pool, n notice) {
	octx, cancel := s.opContext(ctx)
	defer cancel()
	c, err := s.readChallenge(octx, pool, n.Token)
	if err != nil {
		if !errors.Is(err, pgx.ErrNoRows) {
			s.log.Warn("could not load a challenge answer another edge published", "err", err)
			s.opFailed(err)
		}
		return
	}
	s.mu.Lock()
	s.challenges[n.Token] = c
	s.mu.Unlock()
	payload, _ := json.Marshal(notice{Kind: "ack", ID: n.ID, Instance: s.instance})
	if _, err := pool.Exec(octx, "SELECT pg_notify($1, $2)", s.channel(), string(payload)); err != nil {
		s.opFailed(err)
	}
}

func (s *Store) readChallenge(ctx context.Context, pool *pgxpool.Pool, token string) (*challenge, error) {
	c := &challenge{}
	var sealed []byte
	var left float64
	err := pool.QueryRow(ctx, `SELECT id, name, kind, answer, extract(epoch FROM expires_at - now())::float8
		FROM challenges WHERE token = $1 AND expires_at > now()`, token).Scan(&c.id, &c.name, &c.kind, &sealed, &left)
	if err != nil {
		return nil, err
	}
	answer, err := s.seal.open(challengeSpace, token, sealed)
	if err != nil {
		return nil, err
	}
	c.answer, c.expires = string(answer), time.Now().Add(time.Duration(left*float64(time.Second)))
	return c, nil
}

func (s *Store) receiveAck(n notice) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w := s.ackWaiters[n.ID]; w != nil {
		w.got[n.Instance] = true
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// loadChallenges replaces the answers in memory with those in the
// database (after a reconnection: notifications were missed).
func (s *Store) loadChallenges(ctx context.Context, pool *pgxpool.Pool) error {
	rows, err := pool.Query(ctx, "SELECT token FROM challenges WHERE expires_at > now()")
	if err != nil {
		return err
	}
	tokens, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	loaded := map[string]*challenge{}
	for _, t := range tokens {
		c, err := s.readChallenge(ctx, pool, t)
		if errors.Is(err, pgx.ErrNoRows) || errors.Is(err, errSealed) {
			continue
		}
		if err != nil {
			return err
		}
		loaded[t] = c
	}
	s.mu.Lock()
	s.challenges = loaded
	s.mu.Unlock()
	return nil
}

// LookupChallenge returns the answer another edge published for token
// of name (HTTP-01 or a probe). It never blocks on the database.
func (s *Store) LookupChallenge(name, token string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.challenges[token]
	if c == nil || c.name != name || c.kind == KindTLSALPN01 || time.Now().After(c.expires) {
		return "", false
	}
	return c.answer, true
}

// LookupALPN returns the key authorization of the newest TLS-ALPN-01
// challenge another edge published for name. It never blocks on the
// database.
func (s *Store) LookupALPN(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var best *challenge
	now := time.Now()
	for _, c := range s.challenges {
		if c.name == name && c.kind == KindTLSALPN01 && now.Before(c.expires) && (best == nil || c.id > best.id) {
			best = c
		}
	}
	if best == nil {
		return "", false
	}
	return best.answer, true
}

// pruneChallenges forgets expired answers.
func (s *Store) pruneChallenges() {
	now := time.Now()
	s.mu.Lock()
	for t, c := range s.challenges {
		if now.After(c.expires) {
			delete(s.challenges, t)
		}
	}
	s.mu.Unlock()
}
