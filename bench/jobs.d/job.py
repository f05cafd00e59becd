"""The one job every Python system runs: parse a small JSON payload, hash it, and record its id
with the time it was done (CLOCK_MONOTONIC ns) in a file of this process's own, opened with
O_APPEND in $JOBS_OUT. The driver counts these lines: the same proof of work for every system."""
import hashlib
import json
import os
import time

_out = None
_pid = None


def run(payload):
    global _out, _pid
    job = json.loads(payload)
    hashlib.sha256(payload.encode()).hexdigest()
    if _pid != os.getpid():  # opened after a fork too (Celery's prefork, RQ's work horse)
        _pid = os.getpid()
        _out = os.open("%s/%d" % (os.environ["JOBS_OUT"], _pid), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.write(_out, b"%d %d\n" % (job["id"], time.monotonic_ns()))
