/// Pushes the schedules' runs (`[schedule:NAME]`) when they fall due, through the store of each
/// schedule's queue: the run and its job in one step, keyed by schedule and time, so that a run
/// is pushed once however many supervisors try. Only while this supervisor may act: it holds
/// the port lock by running at all, and the fleet lock when there is one. What is due is the
/// ScheduleBook's to say; this part reads, pushes, and paces retries.
final class Scheduler: Timed {
    /// How soon a read or push that failed is tried again.
    static let retryWait: Duration = .seconds(1)
    /// The longest the loop waits for the next run without looking at the wall clock again.
    static let longestWait: Duration = .seconds(60)

    private(set) var book = ScheduleBook()
    /// The wall clock in milliseconds since the epoch (the cron expressions' time).
    let wallClock: () -> Int64
    /// The store a schedule pushes to (nil: none can be had).
    let store: (ScheduleConfig) -> (any FeedStore)?
    /// Whether this supervisor may push runs now (the fleet lock, when there is one).
    let mayAct: (Moment) -> Bool
    let say: (String) -> Void
    private var acting = false
    private var retryAt: Moment?
    /// Refusals said once until the schedule pushes again.
    private var refusals: [String: String] = [:]

    init(wallClock: @escaping () -> Int64 = Moment.wallMilliseconds, store: @escaping (ScheduleConfig) -> (any FeedStore)?,
         mayAct: @escaping (Moment) -> Bool, say: @escaping (String) -> Void) {
        self.wallClock = wallClock
        self.store = store
        self.mayAct = mayAct
        self.say = say
    }

    func configure(_ schedules: [ScheduleConfig]) { book.configure(schedules, now: wallClock() / 1000) }

    var nextDeadline: Moment? {
        guard !book.entries.isEmpty else { return nil }
        let now = Moment.now()
        // Allowed to act again (the fleet lock gained, the supervisor running) only at a turn of
        // the loop that something else woke: nothing to poll.
        guard acting else { return mayAct(now) ? now : nil }
        if let retryAt { return retryAt }
        if book.hasUnknown { return now }
        guard let due = book.nextDue else { return nil }
        // Capped: a wall clock set forward (NTP) makes a run due sooner than the wait says.
        return now + min(.milliseconds(max(0, due * 1000 - wallClock())), Self.longestWait)
    }

    func expire(now: Moment) {
        guard !book.entries.isEmpty else { return }
        guard mayAct(now) else {
            if acting { book.forget() }
            acting = false
            return
        }
        acting = true
        if let retry = retryAt, retry > now { return }
        retryAt = nil
        for schedule in book.toRead() { read(schedule) }
        for run in book.due(now: wallClock() / 1000) { push(run.schedule, at: run.time) }
    }

    /// `solo schedule run NAME`: the run of this second, now (once: a second push of it answers
    /// the job the first made).
    func runNow(_ schedule: ScheduleConfig, _ done: @escaping (Result<RunPush, ScheduleFailure>) -> Void) {
        guard mayAct(.now()) else {
            return done(.failure(ScheduleFailure(message: "this supervisor pushes no run now: it is starting or stopping, or it does not hold the fleet lock (cluster_lock; run it on the supervisor that does)")))
        }
        push(schedule, at: wallClock() / 1000, by: "solo schedule run", done)
    }

    private func read(_ schedule: ScheduleConfig) {
        guard let store = store(schedule) else {
            book.finished(schedule.name, run: nil)
            return failed(schedule, "its queue cannot be had", doing: "read its last run")
        }
        store.lastRun(of: schedule.name, queue: schedule.queueName) { [unowned self] reply in
            guard case .answer(let last) = reply else {
                book.finished(schedule.name, run: nil)
                return failed(schedule, reply.refusal, doing: "read its last run")
            }
            if let missed = book.learned(last, of: schedule.name, now: wallClock() / 1000) {
                push(schedule, at: missed, by: "missed = once")
            }
        }
    }

    private func push(_ schedule: ScheduleConfig, at time: Int64, by whom: String? = nil,
                      _ done: ((Result<RunPush, ScheduleFailure>) -> Void)? = nil) {
        let manual = done != nil
        guard let store = store(schedule) else {
            if !manual { book.finished(schedule.name, run: nil, retry: time) }
            done?(.failure(ScheduleFailure(message: "its queue cannot be had")))
            return failed(schedule, "its queue cannot be had", doing: "push its run of \(CivilTime.rfc3339(time))")
        }
        let run = ScheduledRun(schedule: schedule.name, time: time, queue: schedule.queueName,
                               job: NewJob(payload: schedule.payload(at: time), priority: schedule.priority, group: schedule.group),
                               uniqueKey: schedule.uniqueKey)
        store.pushRun(run) { [unowned self] reply in
            guard case .answer(let push) = reply else {
                if !manual { book.finished(schedule.name, run: nil, retry: time) }
                let message = reply.refusal ?? "\(store.location) is unavailable"
                if manual { done?(.failure(ScheduleFailure(message: "cannot push to \(store.location): \(message)"))) }
                return failed(schedule, reply.refusal, doing: "push its run of \(CivilTime.rfc3339(time))")
            }
            refusals[schedule.name] = nil
            let past = PastRun(time: time, jobID: push.jobID)
            if manual { book.note(past, of: schedule.name) } else { book.finished(schedule.name, run: past) }
            let why = whom.map { " (\($0))" } ?? ""
            if push.overlapped {
                say("schedule \(schedule.name): the run of \(CivilTime.rfc3339(time)) was not pushed: job \(push.jobID) of an earlier run still waits or runs (overlap = skip)\(why)")
            } else if push.pushedNow {
                say("schedule \(schedule.name): pushed the run of \(CivilTime.rfc3339(time)) to queue \(schedule.queueName) as job \(push.jobID)\(why)")
            } else {
                say("schedule \(schedule.name): the run of \(CivilTime.rfc3339(time)) was pushed before, as job \(push.jobID)\(why)")
            }
            done?(.success(push))
        }
    }

    /// A refusal is said once; a store away says so itself. Either way, tried again shortly.
    private func failed(_ schedule: ScheduleConfig, _ refusal: String?, doing what: String) {
        retryAt = .now() + Self.retryWait
        guard let refusal, refusals[schedule.name] != refusal else { return }
        refusals[schedule.name] = refusal
        say("schedule \(schedule.name): cannot \(what): \(refusal) (trying again every \(Values.formatElapsed(Self.retryWait)))")
    }
}

/// Why `solo schedule run` pushed nothing.
struct ScheduleFailure: Error {
    let message: String
}

extension StoreReply {
    /// What the store said when it refused (nil: it answered, or could not be asked).
    var refusal: String? {
        guard case .refused(let message) = self else { return nil }
        return message.hasPrefix("FENCED ") ? String(message.dropFirst(7)) : message
    }
}
