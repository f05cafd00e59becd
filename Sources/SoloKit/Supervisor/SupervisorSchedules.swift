/// The schedules (`[schedule:NAME]`): the Scheduler that pushes their runs, and `solo schedule`.
extension Supervisor {
    func makeScheduler() -> Scheduler {
        Scheduler(store: { [unowned self] schedule in
            FeedStores.Address(schedule.place).map { self.feeder.stores.store(at: $0, listener: self.feeder) }
        }, mayAct: { [unowned self] now in
            self.phase == .running && self.fleetLock?.mayAct(now: now) ?? true
        }, say: { [unowned self] in self.say($0) })
    }

    /// At start and after a reload: the schedules of the config, and their stores kept open.
    func configureSchedules() {
        feeder.stores.pinned = Set(config.schedules.compactMap { FeedStores.Address($0.place) })
        scheduler.configure(config.schedules)
    }

    /// `solo schedule list`: each schedule with its next run and its last one.
    func scheduleList() -> JSON {
        let now = Moment.wallMilliseconds() / 1000
        let schedules: [JSON] = scheduler.book.entries.map { entry in
            let schedule = entry.schedule
            let next = entry.next ?? schedule.next(after: now)
            var fields: [(String, JSON)] = [
                ("name", .string(schedule.name)), ("cron", .string(schedule.cron.text)), ("timezone", .string(schedule.zone.name)),
                ("queue", .string(schedule.queueName)), ("store", .string(schedule.place.location)),
                ("missed", .string(schedule.missed.rawValue)),
            ]
            if let next { fields += [("next", .string(CivilTime.rfc3339(next))), ("next_local", .string(CivilTime.local(next, in: schedule.zone)))] }
            if let last = entry.last {
                fields += [("last", .string(CivilTime.rfc3339(last.time))), ("last_local", .string(CivilTime.local(last.time, in: schedule.zone))),
                           ("last_job", .number(last.jobID))]
            }
            return .object(fields)
        }
        return .object([("ok", .bool(true)), ("schedules", .array(schedules))])
    }

    /// `solo schedule run NAME`: pushes a run now; the answer comes when the store has answered.
    func runSchedule(_ name: String, from connection: UInt64) -> JSON? {
        guard let schedule = config.schedules.first(where: { $0.name == name }) else {
            let names = config.schedules.map(\.name)
            let hint = Values.suggestion(for: name, among: names).map { " (did you mean \($0)?)" } ?? ""
            return ControlRequest.failure("no schedule \(name)\(hint); schedules: \(names.isEmpty ? "none" : names.joined(separator: ", "))")
        }
        var answer: JSON?
        scheduler.runNow(schedule) { result in
            switch result {
            case .success(let push):
                answer = .object([("ok", .bool(true)), ("job", .number(push.jobID)), ("pushed", .bool(push.pushedNow)),
                                  ("queue", .string(schedule.queueName))])
            case .failure(let failure):
                answer = ControlRequest.failure("schedule \(name): \(failure.message); nothing was pushed")
            }
        }
        if let answer { return answer }
        control?.answerLater(connection) { answer }
        return nil
    }
}
