import Foundation
import Glibc
import SoloKit

// The kill part (bench/run --only kill): how many jobs a `kill -9` of the supervisor runs again,
// against the bound that solo-queue(5) states.

/// Jobs run again after a `kill -9` of the supervisor, three Python workers taking `milliseconds`
/// a job. Each kill lands 100 to 500 ms after jobs began to flow; bench/ran-worker.py appends every job it is
/// given to a file, so a job of one run that is there again later ran twice. Also the jobs run
/// per second before each kill, for the bound's "jobs finished in the last 5 ms".
func rerunsAfterKill(_ options: Options, milliseconds: Int, kills: Int) -> (perSecond: Double, again: [Int]) {
    let workers = 3
    let supervisor = BenchSupervisor(solo: options.solo, tools: options.tools, pool: "workers = \(workers)\njob_timeout = none",
                                     environment: ", BENCH_JOB_MS=\(milliseconds)",
                                     command: "python3 " + options.tools + "/ran-worker.py", queue: "queue.db")
    defer { supervisor.stop() }
    let jobs = kills * (milliseconds == 0 ? 20_000 : 1000 / milliseconds * workers)  // enough for every round
    do { try queueFile(of: supervisor).push(queue: "bench", (0..<jobs).map { NewJob(payload: Array("j\($0)".utf8)) }) } catch { fail("push: \(error)") }
    func lines(_ name: String) -> [Substring] {
        ((try? String(contentsOfFile: supervisor.directory + "/" + name, encoding: .utf8)) ?? "").split(separator: "\n")
    }
    var ends: [Int] = [], rates: [Double] = []
    for _ in 0..<kills {
        // Jobs flowing (a new supervisor first takes back its predecessor's), then the kill.
        let started = lines("ran").count, flowing = Moment.now() + .seconds(10)
        while lines("ran").count == started && Moment.now() < flowing { usleep(5_000) }
        let (before, since) = (lines("ran").count, Moment.now())
        usleep(UInt32.random(in: 100_000...500_000))
        rates.append(Double(lines("ran").count - before) / (Moment.now() - since).seconds)
        supervisor.kill9()
        // Its guardian kills the workers: what they ran is in the file once they are gone.
        let deadline = Moment.now() + .seconds(10)
        while lines("pids").contains(where: { ProcFS.stat(of: pid_t($0) ?? 0).map { $0.state != "Z" } ?? false }) && Moment.now() < deadline {
            usleep(10_000)
        }
        ends.append(lines("ran").count)
        supervisor.again(options.solo)
    }
    let finish = Moment.now() + .seconds(120)
    while Set(lines("ran")).count < jobs && Moment.now() < finish { usleep(50_000) }
    let ran = lines("ran")
    var again: [Int] = []
    for (index, end) in ends.enumerated() {
        let round = Set(ran[(index == 0 ? 0 : ends[index - 1])..<end])
        again.append(round.intersection(ran[end...]).count)
    }
    return (percentile(rates, 0.5), again)
}

func killReport(_ options: Options) {
    let kills = options.quick ? 5 : 20
    print("| `kill -9` of solo, 3 Python workers (\(kills) kills each) | jobs/s | run again per kill: median | max | bound: 3 + 5 ms of jobs | hard bound: 3 + 256 |")
    print("|---|---|---|---|---|---|")
    for milliseconds in [0, 1, 10] {
        let run = rerunsAfterKill(options, milliseconds: milliseconds, kills: kills)
        let window = 3 + run.perSecond * 0.005  // outcomes are committed within 5 ms (solo-queue(5))
        print("| \(milliseconds) ms a job | \(format(run.perSecond, 0)) | \(format(percentile(run.again.map(Double.init), 0.5), 0)) | \(run.again.max() ?? 0) | \(format(window, 0)) | 259 |")
    }
    print("")
}
