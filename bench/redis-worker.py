"""The setup our users have today, for the Redis benchmark: a Python worker that pops its own
jobs from a Redis list with redis-py, in the reliable-queue pattern (BLMOVE each job to a
processing list of its own, LREM it once done), started twice. It does no work, as solo's
bench workers do none: the figure is the cost of getting jobs."""
import os
import sys

import redis

r = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]))
queue, processing = "bench:queue", "bench:processing:%d" % os.getpid()
while True:
    job = r.blmove(queue, processing, 1, "LEFT", "RIGHT")
    if job is None:
        break
    r.lrem(processing, 1, job)
