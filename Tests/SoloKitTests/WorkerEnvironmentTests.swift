import Glibc
import Testing
@testable import SoloKit

@Suite struct WorkerEnvironmentTests {
    let inherited = ["PATH=/usr/bin:/bin", "HOME=/root", "LANG=C.UTF-8", "LC_ALL=C", "AWS_SECRET=hunter2", "NOTIFY_SOCKET=/run/x", "SOLO_POOL=outer", "TERM=xterm"]

    @Test func clearEnvKeepsOnlyBasics() {
        var pool = PoolConfig(name: "mailer", file: "f", line: 1)
        pool.environment = [EnvironmentVariable(name: "APP_ENV", value: "prod")]
        let env = WorkerEnvironment.build(pool: pool, slot: 2, jobLimit: 1234, inherited: inherited, account: nil)
        #expect(env == ["PATH=/usr/bin:/bin", "HOME=/root", "LANG=C.UTF-8", "LC_ALL=C", "APP_ENV=prod",
                        "SOLO_POOL=mailer", "SOLO_WORKER=2", "SOLO_FD=3", "SOLO_MAX_JOBS=1234"])
    }

    @Test func passEnvAndNoClearEnv() {
        var pool = PoolConfig(name: "p", file: "f", line: 1)
        pool.passEnvironment = ["TERM"]
        #expect(WorkerEnvironment.build(pool: pool, slot: 0, jobLimit: nil, inherited: inherited, account: nil).contains("TERM=xterm"))
        pool.clearEnvironment = false
        let env = WorkerEnvironment.build(pool: pool, slot: 0, jobLimit: nil, inherited: inherited, account: nil)
        #expect(env.contains("AWS_SECRET=hunter2"))
        #expect(!env.contains { $0.hasPrefix("NOTIFY_SOCKET=") }, "solo's own systemd variables never pass")
        #expect(env.contains("SOLO_POOL=p") && !env.contains("SOLO_POOL=outer"))
        #expect(env.contains("SOLO_MAX_JOBS=0"))
    }

    @Test func switchedUserGetsItsHome() {
        let pool = PoolConfig(name: "p", file: "f", line: 1)
        let account = UserAccount(name: "www-data", uid: 33, gid: 33, home: "/var/www", shell: "/usr/sbin/nologin")
        let env = WorkerEnvironment.build(pool: pool, slot: 0, jobLimit: 1, inherited: inherited, account: account)
        #expect(env.contains("HOME=/var/www") && env.contains("USER=www-data") && env.contains("LOGNAME=www-data"))
        #expect(!env.contains("HOME=/root"))
    }
}
