"""The benchmark's feed worker in Python: for each line on stdin, "ok" on fd 3. With an
argument, it handles one job and exits (the same code started once per job, the baseline)."""
import os
import sys

out = os.fdopen(3, "w", buffering=1)
once = len(sys.argv) > 1
if not once:
    out.write("ready\n")
while True:
    line = sys.stdin.readline()
    if not line:
        break
    out.write("ok\n")
    if once:
        break
