"""solo's feed worker: a job a line on stdin, "ok" on fd 3 (solo(1), the worker protocol)."""
import os
import sys

import job

out = os.fdopen(3, "w", buffering=1)
out.write("ready\n")
for line in sys.stdin:
    job.run(line.rstrip("\n"))
    out.write("ok\n")
