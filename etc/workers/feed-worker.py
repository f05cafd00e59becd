#!/usr/bin/env python3
"""A feed-mode worker in Python: boot once, then one job per line on stdin, the outcome on fd 3.

Use it with `command = python3 workers/feed-worker.py`. EOF on stdin means "finish and exit".
"""
import json
import os
import sys

solo = os.fdopen(int(os.environ.get("SOLO_FD", "3")), "w", buffering=1)
solo.write("ready\n")

for line in sys.stdin:
    try:
        job = json.loads(line)
    except ValueError:
        solo.write("fail not JSON\n")            # permanent: the job is dead
        continue
    try:
        print(f"worker {os.environ['SOLO_WORKER']} sends {job!r}", flush=True)
        solo.write("ok " + json.dumps({"sent": True}) + "\n")
    except OSError as error:
        solo.write(f"retry 30\n")                # transient: again in 30 seconds
        print(f"will retry: {error}", file=sys.stderr, flush=True)
