-- Per-mesh analytics (docs/self-hosting.md "Analytics", docs/protocol.md §8.7): hourly rollups of
-- metadata only — counts, byte totals, latency-bucket counts and seconds online, keyed by ids. No
-- column holds text a member wrote. The broker adds to them from memory every
-- CLAUDEMESH_ANALYTICS_FLUSH_MS (one upsert statement) and deletes hours older than
-- CLAUDEMESH_ANALYTICS_RETENTION_DAYS. No foreign keys: rows of a deleted mesh or topic age out.
CREATE TABLE mesh_stats_hourly (
  mesh_id     uuid        NOT NULL,
  hour        timestamptz NOT NULL,
  messages    integer     NOT NULL DEFAULT 0,
  topic_posts integer     NOT NULL DEFAULT 0,
  delivered   integer     NOT NULL DEFAULT 0,
  bytes       bigint      NOT NULL DEFAULT 0,
  CONSTRAINT mesh_stats_hourly_pkey PRIMARY KEY (mesh_id, hour)
);
CREATE INDEX mesh_stats_hourly_hour_idx ON mesh_stats_hourly (hour);

-- Handoff latency (accepted → delivered confirmation): deliveries per histogram bucket, the bucket
-- an index into HANDOFF_BUCKETS_MS (libs/core analytics.ts; the last index counts what is slower).
CREATE TABLE mesh_handoff_hourly (
  mesh_id    uuid        NOT NULL,
  hour       timestamptz NOT NULL,
  bucket     smallint    NOT NULL,
  deliveries integer     NOT NULL DEFAULT 0,
  CONSTRAINT mesh_handoff_hourly_pkey PRIMARY KEY (mesh_id, hour, bucket)
);
CREATE INDEX mesh_handoff_hourly_hour_idx ON mesh_handoff_hourly (hour);

CREATE TABLE mesh_topic_stats_hourly (
  mesh_id  uuid        NOT NULL,
  topic_id bigint      NOT NULL,
  hour     timestamptz NOT NULL,
  posts    integer     NOT NULL DEFAULT 0,
  CONSTRAINT mesh_topic_stats_hourly_pkey PRIMARY KEY (mesh_id, hour, topic_id)
);
CREATE INDEX mesh_topic_stats_hourly_hour_idx ON mesh_topic_stats_hourly (hour);

-- Seconds a member had at least one WebSocket session open, per hour (at most 3600).
CREATE TABLE member_uptime_hourly (
  mesh_id        uuid        NOT NULL,
  member_id      bigint      NOT NULL,
  hour           timestamptz NOT NULL,
  seconds_online integer     NOT NULL DEFAULT 0,
  CONSTRAINT member_uptime_hourly_pkey PRIMARY KEY (mesh_id, hour, member_id),
  CONSTRAINT member_uptime_hourly_seconds_check CHECK (seconds_online BETWEEN 0 AND 3600)
);
CREATE INDEX member_uptime_hourly_hour_idx ON member_uptime_hourly (hour);
