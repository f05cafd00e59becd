#!/bin/sh
# A feed-mode worker in shell: one job per line on stdin, its outcome on fd 3 ($SOLO_FD).
# EOF on stdin means "finish and exit": that is how solo recycles and stops it.
echo ready >&3                          # optional: jobs come at once, not after a second
while IFS= read -r job; do
    case "$job" in
        fail*)  echo "fail cannot do $job" >&3 ;;      # permanent: the job is dead
        retry*) echo "retry 5" >&3 ;;                  # transient: again in 5 seconds
        *)      echo "worker $SOLO_WORKER did: $job"   # stdout and stderr are logged
                echo "ok done $job" >&3 ;;             # the result, for solo wait --results
    esac
done
