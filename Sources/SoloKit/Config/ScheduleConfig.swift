/// A `[schedule:NAME]` section: a cron expression, and the job it pushes to a queue at each run.
public struct ScheduleConfig: Equatable, Sendable {
    public var name: String
    public var file: String
    public var line: Int

    public var cron = CronExpression.daily
    /// The zone the expression is read in, as written (nil: the host's).
    public var timeZoneName: String? = nil
    public var zone: TimeZoneRules = .utc
    public var queueName: String = ""
    /// Where the queue lives: `store` when given, else where the config's pools take the queue.
    public var place: QueueSetting = .none
    /// The payload, with `{{time}}` (the run's scheduled time, RFC 3339 UTC) and `{{name}}`.
    public var payload = #"{"schedule":"{{name}}","time":"{{time}}"}"#
    public var group: String? = nil
    public var priority = 0
    public var missed = MissedRuns.skip
    /// Whether a run is pushed while the job of an earlier run still waits or runs.
    public var overlap = Overlap.skip

    /// What to do about a run that falls due while an earlier run's job still waits or runs.
    public enum Overlap: String, Equatable, Sendable, CaseIterable {
        /// Not pushed: the schedule's runs hold its unique key (see `uniqueKey`), one at a time.
        case skip
        /// Pushed: runs may stack up behind a slow one.
        case allow
    }

    /// The unique key a run's job holds while it waits or runs (solo-queue(5), UNIQUE JOBS), so
    /// that a slow run is not stacked on itself; nil with `overlap = allow`.
    public var uniqueKey: String? { overlap == .skip ? "schedule:" + name : nil }

    /// What to do about the runs that fell due while no supervisor ran the schedule.
    public enum MissedRuns: String, Equatable, Sendable, CaseIterable {
        /// Nothing: the next run is the next one due after now.
        case skip
        /// The latest missed run is pushed once, at once.
        case once
    }

    public init(name: String, file: String, line: Int) {
        self.name = name
        self.file = file
        self.line = line
    }

    static let placeholders = ["{{time}}", "{{name}}"]

    /// The payload of the run scheduled at `time` (seconds since the epoch).
    public func payload(at time: Int64) -> [UInt8] {
        Array(payload.replacing("{{time}}", with: CivilTime.rfc3339(time)).replacing("{{name}}", with: name).utf8)
    }

    /// The first run after `instant`.
    public func next(after instant: Int64) -> Int64? { cron.next(after: instant, in: zone) }
}

extension CronExpression {
    static let daily = try! CronExpression("@daily")
}

extension Keys {
    static let schedule: [KeySpec<ScheduleConfig>] = [
        KeySpec(name: "cron", apply: { model, value, _ throws(ValueError) in
            model.cron = try CronExpression(Values.unquote(value))
        }, render: { $0.cron.text }),
        KeySpec(name: "timezone", apply: { model, value, _ throws(ValueError) in
            let name = Values.unquote(value)
            model.timeZoneName = name.isEmpty || name == "host" ? nil : name
        }, render: { $0.timeZoneName ?? "host" }),
        KeySpec(name: "queue", apply: { model, value, _ throws(ValueError) in
            model.queueName = try queueName(value)
        }, render: { $0.queueName }),
        KeySpec(name: "store", apply: { model, value, context throws(ValueError) in
            model.place = try queuePlace(value, context)
        }, render: { renderQueuePlace($0.place) }),
        KeySpec(name: "payload", apply: { model, value, _ throws(ValueError) in
            let payload = Values.unquote(value)
            var rest = payload[...]
            while let open = rest.firstRange(of: "{{") {
                let close = rest[open.upperBound...].firstRange(of: "}}")?.upperBound ?? rest.endIndex
                let placeholder = String(rest[open.lowerBound..<close])
                guard ScheduleConfig.placeholders.contains(placeholder) else {
                    throw ValueError("\(quoted(placeholder)) is not a placeholder (write {{time}} for the run's time or {{name}} for the schedule's name)")
                }
                rest = rest[close...]
            }
            guard !payload.isEmpty else { throw ValueError("is empty (write the job's payload, like {\"task\":\"report\",\"at\":\"{{time}}\"})") }
            model.payload = payload
        }, render: { "'\($0.payload)'" }),
        KeySpec(name: "group", apply: { model, value, _ throws(ValueError) in
            let group = Values.unquote(value)
            model.group = group.isEmpty ? nil : group
        }, render: { $0.group ?? "" }),
        KeySpec(name: "priority", apply: { model, value, _ throws(ValueError) in
            model.priority = try Values.integer(value, in: -1_000_000...1_000_000, example: "10")
        }, render: { "\($0.priority)" }),
        KeySpec(name: "missed", apply: { model, value, _ throws(ValueError) in
            guard let missed = ScheduleConfig.MissedRuns(rawValue: value.lowercased()) else {
                throw ValueError("\(quoted(value)) is not a policy (write skip to let missed runs go, or once to push the latest one at start)")
            }
            model.missed = missed
        }, render: { $0.missed.rawValue }),
        KeySpec(name: "overlap", apply: { model, value, _ throws(ValueError) in
            guard let overlap = ScheduleConfig.Overlap(rawValue: value.lowercased()) else {
                throw ValueError("\(quoted(value)) is not a policy (write skip to push no run while an earlier run's job waits or runs, or allow to push it anyway)")
            }
            model.overlap = overlap
        }, render: { $0.overlap.rawValue }),
    ]
}

extension ConfigLoader {
    static let schedulePrefix = "schedule:"

    /// The `[schedule:NAME]` sections of every file, checked against the loaded pools.
    func loadSchedules(_ files: [(String, [INISection])], config: SoloConfig, issues: inout [ConfigIssue]) -> [ScheduleConfig] {
        var schedules: [ScheduleConfig] = []
        for (path, sections) in files {
            for section in sections where section.name.hasPrefix(Self.schedulePrefix) {
                let name = String(section.name.dropFirst(Self.schedulePrefix.count))
                if let problem = Self.poolNameProblem(name) {
                    issues.append(ConfigIssue(file: path, line: section.line,
                                              message: "schedule " + problem.replacing("pool name [", with: "name [schedule:")))
                    continue
                }
                if let earlier = schedules.first(where: { $0.name == name }) {
                    issues.append(ConfigIssue(file: path, line: section.line,
                                              message: "schedule [schedule:\(name)] is defined twice (first at \(earlier.file):\(earlier.line)); rename one"))
                    continue
                }
                var schedule = ScheduleConfig(name: name, file: path, line: section.line)
                let set = apply(section.entries, to: &schedule, keys: Keys.schedule, others: Keys.pool.map(\.name),
                                othersAre: "a pool key: a schedule only pushes jobs, a pool runs them", file: path, issues: &issues)
                issues += complete(&schedule, set: set, entries: section.entries, config: config)
                schedules.append(schedule)
            }
        }
        return schedules
    }

    /// Required keys, the time zone, and where the queue lives.
    private func complete(_ schedule: inout ScheduleConfig, set: Set<String>, entries: [INIEntry], config: SoloConfig) -> [ConfigIssue] {
        var issues = SectionIssues(file: schedule.file, line: schedule.line, entries: entries)
        if !set.contains("cron") {
            issues.add(nil, "schedule [schedule:\(schedule.name)] has no cron (add cron = 0 3 * * *, say, or @daily)")
        }
        if !set.contains("queue") {
            issues.add(nil, "schedule [schedule:\(schedule.name)] has no queue (add queue = NAME, a queue a pool takes jobs from)")
            return issues.all
        }
        do {
            schedule.zone = try schedule.timeZoneName.map { (name) throws(ValueError) in try loadZone(name) } ?? hostZone()
        } catch {
            issues.add("timezone", error.message)
        }
        let target: QueueTarget
        do { target = try QueueTarget.resolve(config, queue: schedule.queueName) } catch {
            if !set.contains("store") { issues.add("queue", error.message + " (or say which with store =)") }
            return issues.all
        }
        if !set.contains("store") {
            schedule.place = target.place
        }
        if target.pools.isEmpty || !target.pools.contains(where: { config.pool(named: $0)?.queue.sameServer(as: schedule.place) ?? false }) {
            issues.add("queue", "no pool of this config takes jobs from \(quoted(schedule.queueName)) at \(schedule.place.location), so its runs would wait (check the name, or add a pool with queue_name = \(schedule.queueName))", .warning)
        }
        return issues.all
    }
}

extension QueueSetting {
    /// Whether two settings name one SQLite file or one Redis server and database.
    func sameServer(as other: QueueSetting) -> Bool {
        switch (self, other) {
        case (.redis(let a), .redis(let b)): return a.server == b.server
        default: return self == other
        }
    }
}
