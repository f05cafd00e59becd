/// Which runs of the schedules are due, and when the next one is: pure, with the wall-clock
/// time passed in (seconds since the epoch), so tests step through a calendar by hand. The
/// Scheduler reads and pushes what it says.
struct ScheduleBook {
    struct Entry {
        var schedule: ScheduleConfig
        /// The latest run pushed, as the store said at start, then as pushes answered.
        var last: PastRun?
        /// Whether the store has said which run was last; until then no run is due.
        var known = false
        /// The next run to push, once known.
        var next: Int64?
        /// A read or a push is under way.
        var busy = false
    }

    private(set) var entries: [Entry] = []

    /// The schedules of a (re)loaded config, at `now`. One that pushes to the same place keeps
    /// what is known of it (its last run); if its cron or zone changed, its next run is the next
    /// one from now (a reload is not downtime: nothing is caught up). One new, or moved to another
    /// queue, reads its last run from there.
    mutating func configure(_ schedules: [ScheduleConfig], now: Int64) {
        let old = entries
        entries = schedules.map { schedule in
            guard var kept = old.first(where: { Self.samePlace($0.schedule, schedule) }) else { return Entry(schedule: schedule) }
            let timesChanged = kept.schedule.cron != schedule.cron || kept.schedule.zone != schedule.zone
            kept.schedule = schedule
            if timesChanged && kept.known && !kept.busy { kept.next = schedule.next(after: now) }
            return kept
        }
    }

    /// Whether two configs of a schedule push to the same queue.
    static func samePlace(_ a: ScheduleConfig, _ b: ScheduleConfig) -> Bool {
        a.name == b.name && a.queueName == b.queueName && a.place == b.place
    }

    /// The one run since the last that fell due this recently is late, not missed: pushed even
    /// with `missed = skip` (a quick restart, or a fleet lock passing to another supervisor, is
    /// not downtime).
    static let lateGrace: Int64 = 60

    /// What was read is stale: another supervisor may have pushed runs since (the fleet lock
    /// changed hands).
    mutating func forget() {
        for index in entries.indices where !entries[index].busy {
            entries[index].known = false
            entries[index].next = nil
        }
    }

    /// The schedules whose last run is to be read from their store; each is marked busy.
    mutating func toRead() -> [ScheduleConfig] {
        var chosen: [ScheduleConfig] = []
        for index in entries.indices where !entries[index].known && !entries[index].busy {
            entries[index].busy = true
            chosen.append(entries[index].schedule)
        }
        return chosen
    }

    /// The store said which run of `name` was last. Returns the run to push at once: the latest
    /// of those that fell due since, with `missed = once`; with `skip`, the one run that fell due
    /// since, if it is late by less than `lateGrace` (nil: none).
    mutating func learned(_ last: PastRun?, of name: String, now: Int64) -> Int64? {
        guard let index = entries.firstIndex(where: { $0.schedule.name == name }) else { return nil }
        let schedule = entries[index].schedule
        entries[index].busy = false
        entries[index].known = true
        entries[index].last = last
        entries[index].next = schedule.next(after: max(now, last?.time ?? now))
        guard let last, let missed = Self.latestRun(of: schedule, after: last.time, upTo: now),
              schedule.missed == .once || (missed == schedule.next(after: last.time) && now - missed < Self.lateGrace) else { return nil }
        entries[index].busy = true
        return missed
    }

    /// Runs due at `now`, at most one per schedule: the latest due, so that runs passed over
    /// while the loop was held up are skipped, not stacked. Each is marked busy.
    mutating func due(now: Int64) -> [(schedule: ScheduleConfig, time: Int64)] {
        var runs: [(schedule: ScheduleConfig, time: Int64)] = []
        for index in entries.indices where entries[index].known && !entries[index].busy {
            guard let next = entries[index].next, next <= now else { continue }
            let schedule = entries[index].schedule
            let time = Self.latestRun(of: schedule, after: next - 1, upTo: now) ?? next
            entries[index].busy = true
            entries[index].next = schedule.next(after: time)
            runs.append((schedule, time))
        }
        return runs
    }

    /// A push (or a read) is done: `run` is the run pushed, nil when it failed. A failed
    /// scheduled run is due again (at `retry`), a failed read is read again.
    mutating func finished(_ name: String, run: PastRun?, retry time: Int64? = nil) {
        guard let index = entries.firstIndex(where: { $0.schedule.name == name }) else { return }
        entries[index].busy = false
        if let run { note(run, of: name) }
        if run == nil, let time { entries[index].next = min(entries[index].next ?? time, time) }
    }

    /// A run pushed (by `solo schedule run` too): the last one, when no later one is known.
    mutating func note(_ run: PastRun, of name: String) {
        guard let index = entries.firstIndex(where: { $0.schedule.name == name }) else { return }
        if run.time >= entries[index].last?.time ?? .min { entries[index].last = run }
    }

    /// The earliest run due among the schedules known and idle.
    var nextDue: Int64? {
        entries.filter { $0.known && !$0.busy }.compactMap(\.next).min()
    }

    /// Whether a schedule waits for its last run to be read.
    var hasUnknown: Bool { entries.contains { !$0.known && !$0.busy } }

    /// The latest run in (`after`, `upTo`], if any: from the last hour when one falls in it,
    /// else walking from `after` (runs before the last hour are few, or none).
    static func latestRun(of schedule: ScheduleConfig, after: Int64, upTo now: Int64) -> Int64? {
        let recent = max(after, now - 3600)
        var start = after
        if let inLastHour = schedule.next(after: recent), inLastHour <= now { start = inLastHour - 1 }
        var latest: Int64?
        var at = start
        for _ in 0..<100_000 {
            guard let run = schedule.next(after: at), run <= now else { break }
            latest = run
            at = run
        }
        return latest
    }
}
