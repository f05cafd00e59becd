#!/bin/sh
# A poll-mode worker in shell: it finds its own jobs (here it makes one up every half second),
# says `ok` on fd 3 after each, and finishes the job at hand when it gets SIGTERM.
# solo sets SOLO_POOL, SOLO_WORKER, SOLO_FD (3) and SOLO_MAX_JOBS.
stopping=0
trap 'stopping=1' TERM
echo "worker $SOLO_WORKER of $SOLO_POOL starting (pid $$, recycled after $SOLO_MAX_JOBS jobs)"
job=0
while [ "$stopping" = 0 ]; do
    sleep 0.5
    job=$((job + 1))
    echo "did job $job"
    echo "ok job-$job" >&3
done
echo "worker $SOLO_WORKER: got TERM, exiting after $job jobs"
