#!/bin/sh
# Tell cloud-poller's event intake that a Nagios host or service changed, so it re-reads it now.
#
# Run by Nagios as an event handler or a notification command (see etc/nagios-poller.cfg):
#   nagios-notify-poller.sh CONFIG host    HOSTNAME STATE STATETYPE
#   nagios-notify-poller.sh CONFIG service HOSTNAME SERVICEDESC STATE STATETYPE
# CONFIG is a shell file (mode 0600, readable by the nagios user) setting
#   POLLER_URL=http://127.0.0.1:8787    the intake (events.http in poller.yaml)
#   POLLER_SOURCE=nagios                the source name in poller.yaml
#   POLLER_TOKEN=...                    events.sources.<source>.token
#   POLLER_DELAY=11                     seconds to wait before posting (see below); 0 posts at once
#   POLLER_LOG=/var/log/nagios4/poller-notify.log   where failures are appended (also to syslog)
# Why the delay: the CGIs cloud-poller reads serve status.dat, which Nagios rewrites only every
# status_update_interval seconds (nagios.cfg, default 10), and an event handler runs before
# that. A refresh posted at once would re-read the old state; so by default the script waits
# status_update_interval + 1 seconds in the background (Nagios is not held up) and then posts.
# Lower status_update_interval (and POLLER_DELAY with it) for faster pushes.
# It POSTs {"object_type", "host_name", "service_description", "state", "state_type"} to
# POLLER_URL/v1/sources/POLLER_SOURCE/events with "Authorization: Bearer POLLER_TOKEN"
# (the token goes to curl on stdin, never on its command line). The event is only a hint:
# cloud-poller fetches the object from Nagios's CGIs and compares it with its baseline.
# Exit status with POLLER_DELAY=0: 0 when the intake accepted the event, 1 otherwise (Nagios
# only logs it); with a delay: 0 once the background post is started.
set -u

usage() { echo "usage: $0 CONFIG host HOST STATE STATETYPE | CONFIG service HOST SERVICE STATE STATETYPE" >&2; exit 2; }

[ $# -ge 2 ] || usage
config=$1 kind=$2
shift 2
case $kind in
    host) [ $# -ge 1 ] || usage; host=$1 service="" state=${2:-} state_type=${3:-} ;;
    service) [ $# -ge 2 ] || usage; host=$1 service=$2 state=${3:-} state_type=${4:-} ;;
    *) usage ;;
esac

POLLER_URL="" POLLER_SOURCE="" POLLER_TOKEN="" POLLER_TIMEOUT=5 POLLER_DELAY=11 POLLER_LOG=""
# shellcheck disable=SC1090
. "$config" || { echo "$0: cannot read $config" >&2; exit 1; }
[ -n "$POLLER_URL" ] && [ -n "$POLLER_SOURCE" ] || { echo "$0: POLLER_URL and POLLER_SOURCE must be set in $config" >&2; exit 1; }

json_string() {  # a JSON string literal: backslash, double quote and control characters escaped
    printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/	/\\t/g' | tr -d '\000-\010\012-\037' | sed -e 's/^/"/' -e 's/$/"/'
}

body="{\"object_type\": \"$kind\", \"host_name\": $(json_string "$host")"
[ "$kind" = service ] && body="$body, \"service_description\": $(json_string "$service")"
body="$body, \"state\": $(json_string "$state"), \"state_type\": $(json_string "$state_type")}"

report() {  # one line to stderr, POLLER_LOG and syslog
    echo "$0: $*" >&2
    [ -n "$POLLER_LOG" ] && echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $0: $*" >>"$POLLER_LOG"
    command -v logger >/dev/null 2>&1 && logger -t nagios-notify-poller -- "$*"
    return 0
}

post() {
    status=$(printf 'Authorization: Bearer %s\n' "$POLLER_TOKEN" | curl -sS -o /dev/null -w '%{http_code}' \
        --max-time "$POLLER_TIMEOUT" -X POST -H @- -H 'Content-Type: application/json' --data-binary "$body" \
        "${POLLER_URL%/}/v1/sources/$POLLER_SOURCE/events" 2>/dev/null) || status=000
    case $status in
        200|202) return 0 ;;
        000) report "cannot reach the intake at $POLLER_URL for $kind $host${service:+/$service}"; return 1 ;;
        *) report "intake answered HTTP $status for $kind $host${service:+/$service}"; return 1 ;;
    esac
}

if [ "$POLLER_DELAY" -gt 0 ] 2>/dev/null; then
    # Detached: Nagios waits for the handler's output to close, so nothing of ours may hold it.
    (sleep "$POLLER_DELAY"; post) </dev/null >/dev/null 2>&1 &
    exit 0
fi
post
