-- Signed REST requests (Authorization: Claudemesh-Sig, protocol §8.1) accepted while their
-- timestamp is inside the ±300 s skew window: the same request again is refused with E_REPLAY. A
-- row names a request by sha256(member pubkey, LF, request string) and lives until its timestamp
-- leaves the window; the broker prunes older rows. In the database, so the refusal holds across a
-- restart and across broker nodes sharing it.
CREATE TABLE signed_requests (
  digest     bytea       NOT NULL,
  expires_at timestamptz NOT NULL,
  CONSTRAINT signed_requests_pkey PRIMARY KEY (digest)
);
CREATE INDEX signed_requests_expires_idx ON signed_requests (expires_at);
