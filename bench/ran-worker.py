"""The benchmark's worker for runs after a kill: appends each job to `ran` beside the bench's
FIFO (one line per run, so a job run twice is there twice), its pid to `pids`, sleeps
BENCH_JOB_MS per job, and says "ok" on fd 3."""
import os
import sys
import time

directory = os.path.dirname(os.environ["BENCH_FIFO"])
pause = int(os.environ.get("BENCH_JOB_MS", "0")) / 1000
ran = os.open(directory + "/ran", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
with open(directory + "/pids", "a") as pids:
    pids.write(f"{os.getpid()}\n")
out = os.fdopen(3, "w", buffering=1)
out.write("ready\n")
for line in sys.stdin:
    os.write(ran, line.encode())
    if pause:
        time.sleep(pause)
    out.write("ok\n")
