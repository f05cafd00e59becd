/// The queue file's schema: a documented, versioned interface (solo-queue(5)). Any program may
/// enqueue with its own SQLite driver:
///
///     INSERT INTO jobs (queue, payload) VALUES ('mailer', '{"to": "a@example.org"}');
///
/// with, optionally, `priority` (higher first), `run_at` (Unix milliseconds: a delayed job),
/// `max_attempts`, `grp` (a group), `unique_key` with `unique_until` (a unique job: see
/// migration 7), and `limit_key` (the key its limits count it under: migration 8). Versions
/// are numbered in `PRAGMA user_version`; opening an older file migrates it, in one transaction.
public enum QueueSchema {
    /// The version this build writes.
    public static let version = 8

    /// Unix time in milliseconds, as SQL.
    static let nowMilliseconds = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"

    /// A job held back by key_concurrency waits with run_at at this, 2100-01-01 (Unix ms):
    /// never due by time, and still a time that a supervisor of an older schema can wait for
    /// without overflowing (as on Redis).
    public static let heldUntilFreed: Int64 = 4_102_444_800_000

    /// The best job held back by key_concurrency with OLD's key, made ready (a trigger's step).
    static let releaseHeld = """
        UPDATE jobs SET state = 'ready', run_at = 0, held_by = NULL WHERE id = (
            SELECT id FROM jobs WHERE queue = OLD.queue AND held_by = 'key_concurrency' AND limit_key = OLD.limit_key
                AND state = 'delayed' ORDER BY priority DESC, id LIMIT 1)
        """

    /// Migration N takes a file from version N-1 to N.
    public static let migrations: [Int: String] = [
        1: """
            CREATE TABLE solo_queue (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
            INSERT INTO solo_queue (key, value) VALUES ('format', 'solo-queue');
            CREATE TABLE jobs (
                id           INTEGER PRIMARY KEY,
                queue        TEXT    NOT NULL,
                payload      TEXT    NOT NULL,
                priority     INTEGER NOT NULL DEFAULT 0,
                run_at       INTEGER NOT NULL DEFAULT 0,
                state        TEXT    NOT NULL DEFAULT 'ready'
                             CHECK (state IN ('ready', 'delayed', 'reserved', 'done', 'dead')),
                attempts     INTEGER NOT NULL DEFAULT 0,
                max_attempts INTEGER,
                grp          TEXT,
                lease_owner  TEXT,
                lease_until  INTEGER,
                result       TEXT,
                error        TEXT,
                created_at   INTEGER NOT NULL DEFAULT (\(nowMilliseconds)),
                finished_at  INTEGER
            );
            CREATE INDEX jobs_ready ON jobs (queue, priority DESC, id) WHERE state = 'ready';
            CREATE INDEX jobs_delayed ON jobs (run_at) WHERE state = 'delayed';
            CREATE INDEX jobs_leased ON jobs (lease_until) WHERE state = 'reserved';
            CREATE INDEX jobs_group ON jobs (grp, state) WHERE grp IS NOT NULL;
            CREATE TRIGGER jobs_delay AFTER INSERT ON jobs
                WHEN NEW.run_at > 0 AND NEW.state = 'ready' AND NEW.run_at > \(nowMilliseconds)
                BEGIN UPDATE jobs SET state = 'delayed' WHERE id = NEW.id; END;
            """,
        2: """
            ALTER TABLE jobs ADD COLUMN worker TEXT;
            CREATE INDEX jobs_worker ON jobs (worker) WHERE state = 'reserved' AND worker IS NOT NULL;
            CREATE INDEX jobs_done ON jobs (finished_at) WHERE state = 'done';
            """,
        // Per-queue counts of delayed and dead jobs for `solo status`, without a scan.
        3: """
            CREATE INDEX jobs_waiting ON jobs (queue, state) WHERE state IN ('delayed', 'dead');
            """,
        // A reserved job not yet given to a worker (taken ahead): if its supervisor dies, it
        // goes back with the attempt its reserve counted given back. Rows reserved before the
        // migration count as given (0): an attempt is never given back for a job that may have run.
        4: """
            ALTER TABLE jobs ADD COLUMN ahead INTEGER NOT NULL DEFAULT 0;
            """,
        // When a queue's next delayed job is due, without passing over other queues' (a queue
        // with none, beside one with 300,000, took 39 ms by jobs_delayed).
        5: """
            CREATE INDEX jobs_delayed_by_queue ON jobs (queue, run_at) WHERE state = 'delayed';
            """,
        // Schedules' runs (`[schedule:NAME]`): the latest run pushed per queue and schedule, so
        // that a run is pushed once however many processes try (a run at or before it was pushed
        // before), and the last one is known after a restart.
        6: """
            CREATE TABLE schedule_runs (
                queue     TEXT    NOT NULL,
                name      TEXT    NOT NULL,
                scheduled INTEGER NOT NULL,
                job_id    INTEGER,
                pushed_at INTEGER NOT NULL,
                PRIMARY KEY (queue, name)
            ) WITHOUT ROWID;
            """,
        // Unique jobs (solo push --unique): a job holds its queue's key from its insert while it
        // waits or runs, and after it ended until unique_until (Unix ms). The UNIQUE index makes
        // a second holder impossible whoever inserts, in whatever order transactions commit; the
        // triggers let go of a key (unique_held = 0) when its job ends with no time left, and,
        // before an insert with the key, when its time has passed since. Deleting a job frees
        // its key with the row.
        7: """
            ALTER TABLE jobs ADD COLUMN unique_key TEXT;
            ALTER TABLE jobs ADD COLUMN unique_until INTEGER;
            ALTER TABLE jobs ADD COLUMN unique_held INTEGER NOT NULL DEFAULT 1;
            CREATE UNIQUE INDEX jobs_unique ON jobs (queue, unique_key) WHERE unique_key IS NOT NULL AND unique_held = 1;
            CREATE TRIGGER jobs_unique_ended AFTER UPDATE OF state ON jobs
                WHEN NEW.unique_key IS NOT NULL AND NEW.unique_held = 1 AND NEW.state IN ('done', 'dead')
                    AND COALESCE(NEW.unique_until, 0) <= \(nowMilliseconds)
                BEGIN UPDATE jobs SET unique_held = 0 WHERE id = NEW.id; END;
            CREATE TRIGGER jobs_unique_expired BEFORE INSERT ON jobs WHEN NEW.unique_key IS NOT NULL
                BEGIN UPDATE jobs SET unique_held = 0
                    WHERE queue = NEW.queue AND unique_key = NEW.unique_key AND unique_held = 1
                        AND state IN ('done', 'dead') AND COALESCE(unique_until, 0) <= \(nowMilliseconds); END;
            """,
        // Limits (solo.conf(5) concurrency, rate_limit, key_concurrency, key_rate_limit) and
        // queue-wait time. limit_key: the key a job counts against (solo push --key). A job held
        // back by its key's limit is 'delayed' with held_by naming the limit: by key_concurrency
        // until a job of its key leaves 'reserved' (the triggers make the best held one ready,
        // so a key never waits with nothing running), by key_rate_limit until run_at, its booked
        // turn. turn_at: that turn, kept (through a later hold by key_concurrency) until its
        // reserve, so that it spends no second one. ready_at: when it became ready, kept while
        // it is held back and set at its reserve; reserved_at: when it was handed out. limit_buckets: each rate limit's state
        // (RateBucket; key '' for the queue's rate_limit).
        8: """
            ALTER TABLE jobs ADD COLUMN limit_key TEXT;
            ALTER TABLE jobs ADD COLUMN held_by TEXT;
            ALTER TABLE jobs ADD COLUMN ready_at INTEGER;
            ALTER TABLE jobs ADD COLUMN reserved_at INTEGER;
            ALTER TABLE jobs ADD COLUMN turn_at INTEGER;
            CREATE INDEX jobs_held ON jobs (queue, held_by, limit_key, priority DESC, id) WHERE state = 'delayed' AND held_by IS NOT NULL;
            CREATE TABLE limit_buckets (
                queue TEXT NOT NULL,
                key   TEXT NOT NULL,
                spent REAL NOT NULL,
                PRIMARY KEY (queue, key)
            ) WITHOUT ROWID;
            CREATE TRIGGER jobs_key_freed AFTER UPDATE OF state ON jobs
                WHEN OLD.state = 'reserved' AND NEW.state <> 'reserved' AND OLD.limit_key IS NOT NULL
                BEGIN \(releaseHeld); END;
            CREATE TRIGGER jobs_key_freed_by_delete AFTER DELETE ON jobs
                WHEN OLD.state = 'reserved' AND OLD.limit_key IS NOT NULL
                BEGIN \(releaseHeld); END;
            """,
    ]
}
