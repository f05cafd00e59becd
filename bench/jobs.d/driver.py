"""bench/jobs: solo next to the job systems a team would otherwise pick (issue 20).

Every system runs the same job (job.py, job.php) through two worker processes, from a queue
filled before its workers start; every run gets fresh servers on free loopback ports, with
their data in a scratch directory, and ends with them stopped. Each job records its id and the
time it was done in a file of its process; a run counts the distinct ids (duplicates and
losses are reported, never hidden) and takes its jobs/s from the first job done to the last.
Memory is the peak of the summed RSS of every process the run started (servers, supervisors,
workers and their children), sampled every 50 ms from /proc. Latency is push-to-done for
single jobs pushed one at a time into an idle system.
"""
import argparse
import os
import platform
import shutil
import signal
import socket
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SOLO = os.path.join(ROOT, ".build-static/release/solo")
VENV_BIN = os.path.dirname(sys.executable)
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


class Failure(Exception):
    pass


def log(text):
    print(text, file=sys.stderr, flush=True)


def now_ns():
    return time.monotonic_ns()


def wait_for(ready, seconds, what):
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            raise Failure("%s within %g s" % (what, seconds))
        time.sleep(0.01)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connectable(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def payload(n):
    return '{"id": %d, "to": "someone@example.org", "subject": "Welcome"}' % n


# MARK: - processes, memory and the ids the jobs record

class Run:
    """One run's scratch directory, the processes it started (each in a session of its own, so
    a Ctrl-C reaches only the driver) and the records the jobs leave in out/."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="solo-jobs-")
        self.out = os.path.join(self.dir, "out")
        os.mkdir(self.out)
        self.procs = []
        self.transient = {}  # pid -> process started per job (the popen baseline)
        self.clients = []  # processes that push, not part of the system: stopped, not measured
        self.closing = threading.Event()
        self.env = dict(os.environ, JOBS_OUT=self.out, PYTHONPATH=HERE, PYTHONDONTWRITEBYTECODE="1")
        self.records = Records(self.out)
        self.peak = 0
        self._sampling = None

    def start(self, argv):
        """A server or worker, in bench/jobs.d, its output in a log of the run's."""
        log_file = open(os.path.join(self.dir, "%s-%d.log" % (os.path.basename(argv[0]), len(self.procs))), "ab")
        proc = subprocess.Popen(argv, cwd=HERE, env=self.env, stdin=subprocess.DEVNULL, stdout=log_file,
                                stderr=subprocess.STDOUT, start_new_session=True)
        log_file.close()
        self.procs.append(proc)
        return proc

    def log_tail(self):
        text = []
        for name in sorted(os.listdir(self.dir)):
            if name.endswith(".log"):
                with open(os.path.join(self.dir, name), "rb") as f:
                    text.append("%s: %s" % (name, f.read()[-600:].decode(errors="replace").strip()))
        return "\n".join(text)

    def sample_memory(self):
        stop = threading.Event()

        def sample():
            while not stop.wait(0.05):
                self.peak = max(self.peak, tree_rss([p.pid for p in self.procs] + list(self.transient)))
        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        self._sampling = (stop, thread)

    def close(self):
        self.closing.set()
        if self._sampling:
            self._sampling[0].set()
            self._sampling[1].join()
        for proc in list(self.transient.values()) + self.clients:
            stop(proc)
        for proc in reversed(self.procs):
            stop(proc)
        shutil.rmtree(self.dir, ignore_errors=True)


def stop(proc, grace=10):
    """TERM to the process's group, KILL after `grace` seconds."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            pass


def tree(roots):
    """The pids of `roots` and all their descendants."""
    children = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                ppid = int(proc_stat(int(name))[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(name))
    found, todo = set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo += children.get(pid, [])
    return found


def proc_stat(pid):
    """/proc/PID/stat's fields after the command's name: state, ppid, ... (proc(5), from field 3)."""
    with open("/proc/%d/stat" % pid, "rb") as f:
        return f.read().rsplit(b")", 1)[1].split()


def tree_rss(roots):
    """Summed RSS in bytes of `roots` and all their descendants."""
    total = 0
    for pid in tree(roots):
        try:
            with open("/proc/%d/statm" % pid, "rb") as f:
                total += int(f.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            pass
    return total


def tree_cpu(roots):
    """CPU seconds (user + system) of `roots` and their living descendants, by command name."""
    by_name = {}
    for pid in tree(roots):
        try:
            with open("/proc/%d/comm" % pid) as f:
                name = f.read().strip()
            fields = proc_stat(pid)
        except (OSError, IndexError):
            continue
        by_name[name] = by_name.get(name, 0) + (int(fields[11]) + int(fields[12])) / TICKS
    return by_name


class Records:
    """The lines "ID DONE_NS" the jobs append, one file per process, read as they grow."""

    def __init__(self, directory):
        self.directory = directory
        self.offsets = {}
        self.done = {}  # id -> first done time
        self.lines = 0

    def read(self):
        for name in os.listdir(self.directory):
            path = os.path.join(self.directory, name)
            with open(path, "rb") as f:
                f.seek(self.offsets.get(name, 0))
                data = f.read()
            end = data.rfind(b"\n") + 1  # a line being written is read next time
            self.offsets[name] = self.offsets.get(name, 0) + end
            for line in data[:end].splitlines():
                job, done = line.split()
                self.lines += 1
                self.done.setdefault(int(job), int(done))
        return len(self.done)

    def wait(self, jobs, stall, cap):
        """Until `jobs` distinct ids, or nothing new for `stall` s, or `cap` s in all; then a
        last look 0.3 s later for duplicates."""
        begin = last = time.monotonic()
        seen = 0
        while seen < jobs:
            time.sleep(0.02)
            count = self.read()
            if count > seen:
                seen, last = count, time.monotonic()
            if time.monotonic() - last > stall or time.monotonic() - begin > cap:
                break
        time.sleep(0.3)
        self.read()


# MARK: - servers

def redis_server(run):
    port = free_port()
    run.start(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", run.dir, "--save", "",
               "--appendonly", "yes", "--appendfsync", "everysec"])
    import redis
    client = redis.Redis(port=port)

    def up():
        try:
            return client.ping()
        except redis.exceptions.ConnectionError:
            return False
    wait_for(up, 10, "redis-server did not answer on port %d" % port)
    return port


def redis_url(port):
    return "redis://127.0.0.1:%d/0" % port


def gearmand(run):
    port = free_port()
    run.start(["gearmand", "--listen=127.0.0.1", "--port=%d" % port, "--log-file=%s/gearmand.log" % run.dir,
               "--pid-file=%s/gearmand.pid" % run.dir])
    wait_for(lambda: connectable(port), 10, "gearmand did not listen on port %d" % port)
    return port


def beanstalkd(run):
    port = free_port()
    os.mkdir(os.path.join(run.dir, "binlog"))
    run.start(["beanstalkd", "-l", "127.0.0.1", "-p", str(port), "-b", os.path.join(run.dir, "binlog")])
    wait_for(lambda: connectable(port), 10, "beanstalkd did not listen on port %d" % port)
    return port


# MARK: - the systems: start servers, fill the queue, start two workers, push one job

REDIS_DURABLE = "yes (Redis with appendonly yes, appendfsync everysec)"


class System:
    """What a run does with a system: `servers` (and clients), `fill` the queue before the
    workers start, start two `workers`, and `push` one job (the latency's pusher, connected).
    Most fill and push through `send`, a batch of jobs in one write where the client can."""
    slow = 1  # runs jobs ÷ slow: the slowest would take minutes
    durable = REDIS_DURABLE

    def fill(self, run, payloads):
        for start in range(0, len(payloads), 500):
            self.send(payloads[start:start + 500])

    def push(self, p):
        self.send([p])

    def ready(self, run):
        """Before the first push into the running system."""


class Solo(System):
    def __init__(self, name, worker, redis=False, max_jobs="1000-2000", prefetch=0):
        self.name, self.worker, self.redis, self.max_jobs, self.prefetch = name, worker, redis, max_jobs, prefetch
        self.lang = "PHP" if worker[0] == "php" else "Python"
        if not redis:
            self.durable = "yes (SQLite, WAL; push commits with synchronous=FULL)"
        self.config = "2 workers, feed mode, max_jobs %s%s, %s" % (
            max_jobs, " (the default)" if max_jobs == "1000-2000" else " (no recycling, as the peers)",
            "queue = redis://" if redis else "queue = sqlite: (the embedded queue)") + (
            ", prefetch = %d (each worker's next job written ahead)" % prefetch if prefetch else "")

    def servers(self, run):
        queue = redis_url(redis_server(run)) if self.redis else "sqlite:%s/queue.db" % run.dir
        self.conf = os.path.join(run.dir, "solo.conf")
        with open(self.conf, "w") as f:
            f.write("[global]\nlock_port = %d\nstate_dir = %s/state\n\n[bench]\ncommand = %s\ndirectory = %s\n"
                    "workers = 2\nqueue = %s\nenvironment = JOBS_OUT=%s\nmax_jobs = %s\nprefetch = %d\n" % (
                        free_port(), run.dir, " ".join(self.worker), HERE, queue, run.out, self.max_jobs, self.prefetch))
        self.queue = queue
        if self.redis:
            import redis
            self.client = redis.Redis.from_url(queue)

    def fill(self, run, payloads):
        subprocess.run([SOLO, "push", "--config", self.conf, "--queue", "bench"], input="\n".join(payloads) + "\n",
                       text=True, env=run.env, check=True, timeout=120)

    def workers(self, run):
        run.start([SOLO, "run", self.conf])

    def ready(self, run):
        if self.redis:
            return

        def made():  # by the supervisor: never create the file here
            try:
                self.db = sqlite3.connect("file:%s?mode=rw" % self.queue[len("sqlite:"):], uri=True, timeout=10,
                                          isolation_level=None)
                return self.db.execute("SELECT count(*) FROM jobs").fetchone() is not None
            except sqlite3.Error:
                return False
        wait_for(made, 10, "solo made no queue file")

    def push(self, p):
        # As solo-queue(5) and solo-redis(5) tell other programs to enqueue.
        if self.redis:
            self.client.pipeline(transaction=False).rpush("solo:{bench}:inbox", p).publish("solo:{bench}:wake", 1).execute()
        else:
            self.db.execute("INSERT INTO jobs (queue, payload) VALUES ('bench', ?)", (p,))


class Celery(System):
    name, lang, slow = "Celery", "Python", 2
    config = ("Redis broker, prefork --concurrency 2, --max-tasks-per-child 1000, acks_late, no result backend, "
              "--without-gossip --without-mingle --without-heartbeat, prefetch multiplier 4 (the default)")

    def servers(self, run):
        import celery
        run.env["JOBS_REDIS"] = redis_url(redis_server(run))
        self.app = celery.Celery("bench", broker=run.env["JOBS_REDIS"])
        self.producer = None

    def fill(self, run, payloads):
        with self.app.producer_or_acquire() as self.producer:
            super().fill(run, payloads)
        self.producer = None

    def send(self, payloads):
        for p in payloads:
            self.app.send_task("bench.run", args=[p], producer=self.producer)

    def workers(self, run):
        run.start([VENV_BIN + "/celery", "-A", "celery_app", "worker", "--pool", "prefork", "--concurrency", "2",
                   "--max-tasks-per-child", "1000", "--without-gossip", "--without-mingle", "--without-heartbeat",
                   "--loglevel", "WARNING"])


class RQ(System):
    lang = "Python"

    def __init__(self, name, worker_class, slow):
        self.name, self.worker_class, self.slow = name, worker_class, slow
        self.config = "two `rq worker --worker-class %s` processes, Redis, defaults otherwise" % worker_class

    def servers(self, run):
        import redis
        import rq
        self.url = redis_url(redis_server(run))
        self.queue = rq.Queue("bench", connection=redis.Redis.from_url(self.url))

    def send(self, payloads):
        self.queue.enqueue_many([self.queue.prepare_data("job.run", args=(p,)) for p in payloads])

    def workers(self, run):
        for _ in range(2):
            run.start([VENV_BIN + "/rq", "worker", "--url", self.url, "--worker-class", self.worker_class, "--quiet",
                       "bench"])


class Dramatiq(System):
    name, lang, slow = "Dramatiq", "Python", 2
    config = "Redis broker, --processes 2 --threads 1, default middleware and prefetch"

    def servers(self, run):
        from dramatiq.brokers.redis import RedisBroker
        run.env["JOBS_REDIS"] = redis_url(redis_server(run))
        self.broker = RedisBroker(url=run.env["JOBS_REDIS"])
        self.broker.declare_queue("bench")

    def workers(self, run):
        run.start([VENV_BIN + "/dramatiq", "dramatiq_app", "--processes", "2", "--threads", "1"])

    def send(self, payloads):
        import dramatiq
        for p in payloads:
            self.broker.enqueue(dramatiq.Message(queue_name="bench", actor_name="run", args=(p,), kwargs={}, options={}))


class PHPServer(System):
    """A server of its own (`server`, which returns its port) that the driver talks to over a
    socket, and two PHP workers (`worker`, given the port)."""
    lang = "PHP"

    def servers(self, run):
        self.port = self.server(run)
        self.sock = socket.create_connection(("127.0.0.1", self.port))
        self.reader = self.sock.makefile("rb")

    def workers(self, run):
        for _ in range(2):
            run.start(["php", self.worker, str(self.port)])


class Gearman(PHPServer):
    name, server, worker = "Gearman", staticmethod(gearmand), "gearman-worker.php"
    durable = "no (gearmand keeps its queue in memory by default)"
    config = "gearmand (default: in-memory queue, 4 I/O threads), two PHP workers (php-gearman, GearmanWorker::work)"
    unique = 0

    def send(self, payloads):
        """SUBMIT_JOB_BG packets (Gearman's binary protocol), each answered by JOB_CREATED."""
        packets = []
        for p in payloads:
            self.unique += 1
            data = b"bench\0%d\0%s" % (self.unique, p.encode())
            packets.append(b"\0REQ" + struct.pack(">II", 18, len(data)) + data)
        self.sock.sendall(b"".join(packets))
        for _ in payloads:
            kind, size = struct.unpack(">4xII", self.reader.read(12))
            self.reader.read(size)
            if kind != 8:
                raise Failure("gearmand answered a submission with packet type %d" % kind)


class Beanstalk(PHPServer):
    name, server, worker = "beanstalkd", staticmethod(beanstalkd), "beanstalk-worker.php"
    durable = "yes (-b binlog, fsync at most every 50 ms: the default with -b)"
    config = "beanstalkd -b (binlog), two PHP workers over a plain socket (reserve, delete)"

    def send(self, payloads):
        self.sock.sendall(b"".join(b"put 0 0 60 %d\r\n%s\r\n" % (len(p), p.encode()) for p in payloads))
        for _ in payloads:
            answer = self.reader.readline()
            if not answer.startswith(b"INSERTED"):
                raise Failure("beanstalkd answered a put with %r" % answer)


class Messenger(System):
    name, lang = "Symfony Messenger", "PHP"
    config = ("Debian's php-symfony-messenger and php-symfony-redis-messenger (5.4) and php-redis, without composer: "
              "the Redis transport (a stream, delete_after_ack, a consumer name per worker), two PHP processes "
              "running its Worker as messenger:consume does (when the queue is empty it sleeps 1 s, the default)")

    def servers(self, run):
        self.port = redis_server(run)
        # Messages are PHP-serialized envelopes: a PHP process of the driver's sends them.
        self.sender = subprocess.Popen(["php", "messenger.php", "push", str(self.port)], cwd=HERE, env=run.env,
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True)
        run.clients.append(self.sender)

    def send(self, payloads):
        self.sender.stdin.write("".join(p + "\n" for p in payloads).encode())
        self.sender.stdin.flush()
        for _ in payloads:
            if self.sender.stdout.readline() != b"ok\n":
                raise Failure("messenger.php push failed")

    def workers(self, run):
        for _ in range(2):
            run.start(["php", "messenger.php", "worker", str(self.port)])


class PerProcess(System):
    name, lang, slow = "`php job.php` per job", "PHP", 40
    durable = "no queue"
    config = "the driver starts `php job.php PAYLOAD` for each job, two at a time (the popen baseline)"

    def servers(self, run):
        self.run, self.payloads = run, []

    def fill(self, run, payloads):
        self.payloads = payloads

    def push(self, p):  # reaped when the run closes
        proc = subprocess.Popen(["php", "job.php", p], cwd=HERE, env=self.run.env, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        self.run.transient[proc.pid] = proc
        return proc

    def workers(self, run):
        def feed():
            running = []
            for p in self.payloads:
                if run.closing.is_set():
                    return
                if len(running) == 2:
                    proc = running.pop(0)
                    proc.wait(60)
                    del run.transient[proc.pid]
                running.append(self.push(p))
        threading.Thread(target=feed, daemon=True).start()


PY = [VENV_BIN + "/python", "solo_worker.py"]
SYSTEMS = [
    Solo("solo (SQLite)", PY),
    Solo("solo (SQLite), prefetch = 1", PY, prefetch=1),
    Solo("solo (Redis)", PY, redis=True),
    Celery(),
    RQ("RQ, forking Worker", "rq.worker.Worker", slow=40),
    RQ("RQ, SimpleWorker", "rq.worker.SimpleWorker", slow=4),
    Dramatiq(),
    Solo("solo (SQLite)", ["php", "solo-worker.php"]),
    Solo("solo (SQLite), max_jobs none", ["php", "solo-worker.php"], max_jobs="none"),
    Solo("solo (SQLite), prefetch = 1", ["php", "solo-worker.php"], prefetch=1),
    Gearman(),
    Beanstalk(),
    Messenger(),
    PerProcess(),
]


# MARK: - measurements

def throughput(system, jobs, show_cpu=False):
    """One run: jobs/s from the first job done to the last, seconds from the workers' start to
    the first job done, peak RSS, and (distinct, duplicates) of the ids recorded."""
    run = Run()
    try:
        system.servers(run)
        system.fill(run, [payload(n) for n in range(jobs)])
        run.sample_memory()
        begin = now_ns()
        system.workers(run)
        run.records.wait(jobs, stall=15, cap=180)
        times = sorted(run.records.done.values())
        distinct = len(run.records.done)
        if distinct < 2:
            raise Failure("%s did %d jobs of %d\n%s" % (system.name, distinct, jobs, run.log_tail()))
        rate = (distinct - 1) / ((times[-1] - times[0]) / 1e9)
        cpu = show_cpu and sorted(tree_cpu([p.pid for p in run.procs]).items())
        if cpu:
            log("  CPU per job, living processes only (a recycled worker's went with it): " + ", ".join(
                "%s %.1f µs" % (name, seconds / distinct * 1e6) for name, seconds in cpu))
        return rate, (times[0] - begin) / 1e9, run.peak, distinct, run.records.lines - distinct
    finally:
        run.close()


def latency(system, count):
    """Push-to-done in ms of `count` jobs (or as many as 30 s allow) pushed one at a time into the
    idle system (after one job that shows it is up); a job not done within 10 s is counted lost."""
    run = Run()
    try:
        system.servers(run)
        system.workers(run)
        system.ready(run)
        system.push(payload(0))
        wait_for(lambda: run.records.read() == 1, 60, "%s did not run a first job" % system.name)
        latencies, lost, end = [], 0, time.monotonic() + 30
        for n in range(1, count + 1):
            if time.monotonic() > end:
                break
            time.sleep(0.02)
            pushed = now_ns()
            system.push(payload(n))
            deadline = time.monotonic() + 10
            while n not in run.records.done and time.monotonic() < deadline:
                time.sleep(0.002)
                run.records.read()
            if n in run.records.done:
                latencies.append((run.records.done[n] - pushed) / 1e6)
            else:
                lost += 1
        return latencies, lost
    finally:
        run.close()


def versions():
    import celery
    import dramatiq
    import redis
    import rq

    def first_line(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"
    with open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    return [
        "machine: %d CPUs (%s), Linux %s, Debian %s" % (os.cpu_count(), cpu, platform.release(),
                                                         first_line(["cat", "/etc/debian_version"])),
        "%s (release build of this checkout, %s)" % (
            first_line([SOLO, "--version"]), first_line(["git", "-C", ROOT, "describe", "--always", "--dirty"])),
        "Python %s; Celery %s, RQ %s, Dramatiq %s, redis-py %s" % (
            platform.python_version(), celery.__version__, rq.__version__, dramatiq.__version__, redis.__version__),
        first_line(["redis-server", "--version"]),
        "%s; php-gearman %s" % (first_line(["php", "--version"]), first_line(["php", "-r", "echo phpversion('gearman');"])),
        first_line(["gearmand", "--version"]) + "; " + first_line(["beanstalkd", "-v"]) + "; Symfony Messenger " +
        first_line(["dpkg-query", "-W", "-f", "${Version}", "php-symfony-messenger"]),
    ]


def spread(values):
    return "%.0f (%.0f–%.0f)" % (statistics.median(values), min(values), max(values))


def main():
    parser = argparse.ArgumentParser(prog="bench/jobs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 jobs, one run, 20 latency jobs")
    parser.add_argument("jobs", nargs="?", type=int, help="jobs per run (default 20,000; 1,000 with --quick)")
    parser.add_argument("--only", metavar="WORDS", help="only the systems whose name or language holds WORDS")
    parser.add_argument("--cpu", action="store_true", help="after each run, the CPU per job of each program of the system")
    args = parser.parse_args()
    systems = [s for s in SYSTEMS if args.only is None or args.only.lower() in (s.name + " " + s.lang).lower()]
    jobs = args.jobs or (1000 if args.quick else 20000)
    runs, single = (1, 20) if args.quick else (3, 200)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    for line in versions():
        print("- " + line)
    results = {id(s): [] for s in systems}
    for r in range(runs):
        for system in systems:  # interleaved: every system once per round
            n = max(jobs // system.slow, 2)
            log("run %d/%d: %s, %s %d jobs" % (r + 1, runs, system.name, system.lang, n))
            results[id(system)].append(throughput(system, n, args.cpu))
    delays = {}
    for system in systems:
        log("latency: %s, %s, %d single jobs" % (system.name, system.lang, single))
        delays[id(system)] = latency(system, single)
    report(systems, results, delays, jobs, runs, single)


def report(systems, results, delays, jobs, runs, single):
    def rate(system):
        return statistics.median(r[0] for r in results[id(system)])
    # Each language's solo on its durable queue (the first solo line) is what the others are set against.
    solo = {}
    for system in systems:
        if isinstance(system, Solo):
            solo.setdefault(system.lang, system)
    print()
    print("| lang | system | jobs/run | jobs/s, median (min–max) of %d | solo ÷ this | first job after start, s | "
          "peak RSS, MiB | push→done p50 / p99, ms | every job once? | survives a crash of its server |" % runs)
    print("|---|---|---|---|---|---|---|---|---|---|")
    for system in systems:
        rows = results[id(system)]
        n = max(jobs // system.slow, 2)
        checks = ["run %d: %d lost, %d duplicated" % (i + 1, n - r[3], r[4]) for i, r in enumerate(rows)
                  if r[3] != n or r[4]]
        single_ms, lost = delays[id(system)]
        ms = sorted(single_ms)
        late = "%.1f / %.1f" % (ms[len(ms) // 2], ms[min(len(ms) - 1, int(len(ms) * 0.99))]) if ms else "–"
        if len(ms) + lost < single:
            late += " (%d jobs in 30 s)" % (len(ms) + lost)
        if lost:
            late += " (**%d lost**)" % lost
        print("| %s | %s | %d | %s | %s | %.2f | %.0f | %s | %s | %s |" % (
            system.lang, system.name, n, spread([r[0] for r in rows]),
            "%.2f" % (rate(solo[system.lang]) / rate(system)) if system.lang in solo else "–",
            statistics.median(r[1] for r in rows), max(r[2] for r in rows) / 2**20, late,
            "**NO: " + "; ".join(checks) + "**" if checks else "yes", system.durable))
    print()
    for lang, own in solo.items():
        peers = [s for s in systems if s.lang == lang and not isinstance(s, Solo)]
        for kind, group in (("peer", peers), ("peer whose jobs survive a crash", [s for s in peers if s.durable.startswith("yes")])):
            if group:
                best = max(group, key=rate)
                ratio = rate(own) / rate(best)
                print("- %s: %s is %.2fx the fastest %s (%s): the 2x goal is %s" % (
                    lang, own.name, ratio, kind, best.name, "met" if ratio >= 2 else "NOT met"))
    print()
    print("How each was configured:")
    for system in systems:
        print("- %s, %s: %s" % (system.name, system.lang, system.config))


if __name__ == "__main__":
    try:
        main()
    except Failure as failure:
        log("bench/jobs: %s" % failure)
        sys.exit(1)
