-- The first schema of frontdoor's cluster state. Statements run with
-- search_path set to the cluster schema, in one transaction.

-- Settings of the cluster itself: key_check (see key.go).
CREATE TABLE meta (
	key   text PRIMARY KEY,
	value text NOT NULL
);

-- Everything the edges share: space '' is the certificate cache
-- (certificates with their keys, the ACME account key), other spaces are
-- the certificate manager's buckets. value is sealed (key.go). version
-- comes from kv_versions at every write; a deleted entry stays as a
-- tombstone so that its deletion reaches an edge that was away. fence is
-- the lease token a certificate was stored under (lease.go).
CREATE SEQUENCE kv_versions;
CREATE TABLE kv (
	space      text        NOT NULL,
	key        text        NOT NULL,
	value      bytea       NOT NULL,
	version    bigint      NOT NULL,
	deleted    boolean     NOT NULL DEFAULT false,
	fence      bigint      NOT NULL DEFAULT 0,
	updated_at timestamptz NOT NULL DEFAULT now(),
	updated_by text        NOT NULL,
	PRIMARY KEY (space, key)
);

-- One order per name: the edge holding a live lease orders; token is the
-- fencing token, from lease_tokens, new at every acquisition.
CREATE SEQUENCE lease_tokens;
CREATE TABLE leases (
	name        text        PRIMARY KEY,
	token       bigint      NOT NULL,
	holder      text        NOT NULL,
	acquired_at timestamptz NOT NULL DEFAULT now(),
	expires_at  timestamptz NOT NULL
);

-- Challenge answers under way, for whichever edge the CA reaches. answer
-- is sealed. kind is http-01, tls-alpn-01 or probe (the resolve check).
CREATE SEQUENCE challenge_ids;
CREATE TABLE challenges (
	token      text        PRIMARY KEY,
	id         bigint      NOT NULL,
	name       text        NOT NULL,
	kind       text        NOT NULL,
	answer     bytea       NOT NULL,
	holder     text        NOT NULL,
	expires_at timestamptz NOT NULL
);

-- One row per edge: its heartbeat and what `frontdoor status --cluster`
-- shows about it.
CREATE TABLE edges (
	edge         text        PRIMARY KEY,
	instance     text        NOT NULL,
	hostname     text        NOT NULL,
	version      text        NOT NULL,
	started_at   timestamptz NOT NULL,
	heartbeat_at timestamptz NOT NULL,
	info         jsonb       NOT NULL DEFAULT '{}'
);

-- The edges' event history, newest by id.
CREATE TABLE events (
	id      bigserial   PRIMARY KEY,
	at      timestamptz NOT NULL,
	edge    text        NOT NULL,
	source  text        NOT NULL,
	kind    text        NOT NULL,
	message text        NOT NULL
);
