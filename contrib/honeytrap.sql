-- honeytrap-rs database schema for plugin-submitPostgres (see honeytrap.conf(5)).
--
-- Replaces the stored functions of the mwcollect database that the C honeytrap's
-- submitPostgres called (attacks.honeytrap_add_attack_string,
-- malware.sensor_honeytrap_add_sample): that database is not available any more, so this
-- is a schema of our own. honeytrap writes it with parameterised statements only.
--
-- Idempotent: loading it again changes nothing. honeytrap applies it by itself when it
-- connects and a table is missing (this needs the CREATE privilege on the schema); an
-- operator who does not grant that loads it once with
--     psql -d honeytrap -f honeytrap.sql
--
-- Text columns never hold NUL (PostgreSQL text cannot): honeytrap stores each NUL of an
-- attacker-chosen string as U+FFFD, as it does for bytes that are not UTF-8, and caps such
-- strings at 8192 bytes. Addresses are stored as given by the socket, with IPv4-mapped IPv6
-- addresses (::ffff:a.b.c.d) stored as the IPv4 address.

-- One row per sensor name (plugin option sensor_id, else the sensor name of the config).
CREATE TABLE IF NOT EXISTS sensors (
    id          serial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    first_seen  timestamptz NOT NULL DEFAULT now()
);

-- Downloaded files, one row per distinct content. data holds the bytes when the file is at
-- most 8 MiB (else NULL; size is always the real size). first_seen / last_seen are the start
-- times of the earliest and latest attacks that brought the file.
CREATE TABLE IF NOT EXISTS samples (
    sha256      text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    md5         text NOT NULL,
    sha512      text NOT NULL,
    size        bigint NOT NULL CHECK (size >= 0),
    data        bytea,
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL
);

-- One row per attack (connection, or virtual record of a decoder when is_virtual).
--   protocol        'tcp', 'udp', or 'raw' for virtual records
--   mode            port mode at accept time: 0 none, 1 normal, 2 ignore, 4 mirror, 8 proxy
--   payload_length  bytes received from the attacker; payload holds the first 1 MiB of
--                   them (length(payload) < payload_length when cut), md5/sha256 are of
--                   all of them
--   proxy_*         the mirror/proxy connection, NULL without one: our local address,
--                   the peer's address and what the peer sent (first 1 MiB as payload)
--   dl_tries        download attempts started for the attack
CREATE TABLE IF NOT EXISTS attacks (
    id                    bigserial PRIMARY KEY,
    sensor                integer NOT NULL REFERENCES sensors (id),
    start_time            timestamptz NOT NULL,
    end_time              timestamptz NOT NULL,
    protocol              text NOT NULL,
    src_ip                inet NOT NULL,
    src_port              integer NOT NULL,
    dst_ip                inet NOT NULL,
    dst_port              integer NOT NULL,
    mode                  smallint NOT NULL,
    is_virtual            boolean NOT NULL,
    payload_length        bigint NOT NULL,
    payload_md5           text NOT NULL,
    payload_sha256        text NOT NULL,
    payload               bytea NOT NULL,
    proxy_local_ip        inet,
    proxy_local_port      integer,
    proxy_remote_ip       inet,
    proxy_remote_port     integer,
    proxy_payload_length  bigint,
    proxy_payload_md5     text,
    proxy_payload_sha256  text,
    proxy_payload         bytea,
    dl_tries              integer NOT NULL
);
CREATE INDEX IF NOT EXISTS attacks_start_time_idx ON attacks (start_time);
CREATE INDEX IF NOT EXISTS attacks_src_ip_idx ON attacks (src_ip);
CREATE INDEX IF NOT EXISTS attacks_payload_sha256_idx ON attacks (payload_sha256);

-- One row per download of an attack, in the attack's order (id ascending).
--   type        ftp, tftp, http, raw, ... as in the other outputs
--   remote_*    the server the file came from, NULL when unknown (e.g. http)
--   username, password, filename, uri: as the attacker gave them, NULL when absent
CREATE TABLE IF NOT EXISTS downloads (
    id          bigserial PRIMARY KEY,
    attack      bigint NOT NULL REFERENCES attacks (id) ON DELETE CASCADE,
    type        text NOT NULL,
    uri         text,
    remote_ip   inet,
    remote_port integer,
    username    text,
    password    text,
    filename    text,
    sample      text NOT NULL REFERENCES samples (sha256)
);
CREATE INDEX IF NOT EXISTS downloads_attack_idx ON downloads (attack);
CREATE INDEX IF NOT EXISTS downloads_sample_idx ON downloads (sample);
