-- raceproof's user records and audit log. Run inside the repository's schema
-- (search_path), under an advisory lock, once per schema (schema_migrations).
CREATE TABLE users (
    id               TEXT PRIMARY KEY CHECK (octet_length(id) BETWEEN 1 AND 128),
    -- The password hash: Argon2id costs (0 for other hashers), salt and digest.
    m_cost           INTEGER NOT NULL CHECK (m_cost >= 0),
    t_cost           INTEGER NOT NULL CHECK (t_cost >= 0),
    p_cost           INTEGER NOT NULL CHECK (p_cost >= 0),
    salt             BYTEA NOT NULL,
    digest           BYTEA NOT NULL,
    role             TEXT NOT NULL CHECK (role IN ('user', 'admin')),
    email            TEXT NOT NULL CHECK (octet_length(email) BETWEEN 1 AND 254),
    version          BIGINT NOT NULL CHECK (version >= 1),
    credential_epoch BIGINT NOT NULL CHECK (credential_epoch >= 0)
);

-- One row: the next audit sequence number. Every write takes its row lock *last*, so
-- sequence numbers are gapless and in commit order.
CREATE TABLE audit_seq (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    next      BIGINT NOT NULL
);
INSERT INTO audit_seq (singleton, next) VALUES (TRUE, 1);

-- audit::Commit, one row per committed write, written in the write's transaction.
CREATE TABLE audit (
    seq                   BIGINT PRIMARY KEY,
    actor                 TEXT NOT NULL,
    action                TEXT NOT NULL CHECK (action IN ('promote', 'demote', 'change_password', 'update_email')),
    subject               TEXT NOT NULL,
    email                 TEXT,
    version               BIGINT,
    actor_role_at_commit  TEXT CHECK (actor_role_at_commit IN ('user', 'admin')),
    actor_epoch_at_commit BIGINT NOT NULL,
    authenticated_epoch   BIGINT NOT NULL
);
