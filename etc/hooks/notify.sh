#!/bin/sh
# An on_event hook for solo (see "EVENT HOOKS" in solo.conf(5)): solo runs it, without a
# shell of its own, for every event, with the event's facts in SOLO_* variables.
#   [global]
#   on_event = hooks/notify.sh
# It runs as the user solo runs as (root, for a system service): keep it writable by that
# user alone. Quote the variables and never evaluate them: SOLO_ERROR is what a worker wrote.
set -u

# What happened, in one line; solo copies what a hook prints into its own log.
line="$SOLO_EVENT on ${SOLO_HOST:-?} at ${SOLO_TIME:-?}"
[ -n "${SOLO_POOL:-}" ] && line="$line: pool $SOLO_POOL"
[ -n "${SOLO_SLOT:-}" ] && line="$line, worker $SOLO_SLOT (pid ${SOLO_PID:-?})"
[ -n "${SOLO_JOB_ID:-}" ] && line="$line, job $SOLO_JOB_ID of queue ${SOLO_QUEUE:-?}"
[ -n "${SOLO_REASON:-}" ] && line="$line: $SOLO_REASON"
[ -n "${SOLO_EXIT:-}" ] && line="$line ($SOLO_EXIT)"
[ -n "${SOLO_ERROR:-}" ] && line="$line: $SOLO_ERROR"
printf '%s\n' "$line"

# Recycles are routine: tell a person only of the rest.
case "$SOLO_EVENT" in
    recycle|alert_cleared|lock_gained) exit 0 ;;
esac

# To post it to a chat or an incident tool, set the webhook's URL and uncomment. curl gets
# the text on its standard input (no shell quoting to get wrong) and gives up after 5 s,
# well inside hook_timeout (10s by default).
#WEBHOOK_URL=https://hooks.example.com/services/XXX
#printf '%s' "$line" | curl --silent --show-error --max-time 5 \
#    --header 'Content-Type: text/plain' --data-binary @- "$WEBHOOK_URL"
