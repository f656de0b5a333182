#!/usr/bin/env bash
# examples/shell/refunds.sh — a refund consumer in bash: takes refund events from
# <prefix>:refunds (BRPOP, oldest first) and applies each exactly once by refund_id.
#
#   examples/shell/refunds.sh [--db FILE] [--count N] [--idle S]
#   --db FILE   the applied refunds, one "refund_id<TAB>user<TAB>credits" line each
#               (default ./refunds-applied.tsv); it is the idempotency record
#   --count N   stop after N events (default: never)
#   --idle S    stop after S seconds without an event (default: never)
#   environment: REDIS_URL, RUNWAY_PREFIX (as for enqueue.sh)
#
# For each event it prints "refunded N credits to USER (REFUND_ID)" on stdout; an event
# whose refund_id is already in the file is reported on stderr and not applied again.
# runwayd emits at most one refund per job; the check makes a redelivered event (a
# replayed list, a restored backup, a consumer restarted mid-way) harmless too.
# A real consumer credits the user in the same transaction that records the id.
set -euo pipefail

usage() { sed -n '5,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
db=./refunds-applied.tsv count=0 idle=0
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || usage
  case "$1" in
    --db) db=$2 ;; --count) count=$2 ;; --idle) idle=$2 ;;
    *) usage ;;
  esac
  shift 2
done
[[ $count =~ ^[0-9]+$ && $idle =~ ^[0-9]+$ ]] || usage
for tool in redis-cli jq flock; do
  command -v "$tool" >/dev/null || { echo "refunds.sh: $tool not found (apt-get install redis-tools jq)" >&2; exit 4; }
done

prefix=${RUNWAY_PREFIX:-runway}
url=${REDIS_URL:-redis://127.0.0.1:6379}
user_opt=()
if [[ $url =~ ^redis://(.*)@([^@]*)$ ]]; then
  cred=${BASH_REMATCH[1]} url="redis://${BASH_REMATCH[2]}"
  if [[ $cred == *:* ]]; then
    [ -n "${cred%%:*}" ] && user_opt=(--user "${cred%%:*}")
    export REDISCLI_AUTH=${cred#*:}
  else
    export REDISCLI_AUTH=$cred
  fi
fi
redis() { redis-cli --no-auth-warning --raw -u "$url" "${user_opt[@]}" "$@"; }

touch "$db"
# apply EVENT: record the refund once (under a lock, so two consumers on one file agree).
apply() {
  local fields refund_id user credits
  if ! fields=$(jq -er 'select(.v == 1 and (.refund_id | type) == "string" and (.credits | type) == "number")
                        | [.refund_id, (.user // ""), .credits] | @tsv' <<<"$1" 2>/dev/null); then
    echo "refunds.sh: skipping an event that is not a v1 refund: $1" >&2
    return
  fi
  IFS=$'\t' read -r refund_id user credits <<<"$fields"
  exec 9>>"$db"
  flock 9
  if REFUND_ID=$refund_id awk -F'\t' '$1 == ENVIRON["REFUND_ID"] { found = 1; exit } END { exit !found }' "$db"; then
    echo "refunds.sh: refund $refund_id already applied; ignoring the duplicate" >&2
  else
    printf '%s\t%s\t%s\n' "$refund_id" "$user" "$credits" >&9
    echo "refunded $credits credits to $user ($refund_id)"
  fi
  flock -u 9
  exec 9>&-
}

seen=0 quiet_since=$(date +%s)
while [ "$count" -eq 0 ] || [ "$seen" -lt "$count" ]; do
  out=$(redis BRPOP "$prefix:refunds" 1 2>&1) || { echo "refunds.sh: BRPOP: $out" >&2; exit 4; }
  if [ -z "$out" ]; then
    if [ "$idle" -gt 0 ] && [ $(( $(date +%s) - quiet_since )) -ge "$idle" ]; then break; fi
    continue
  fi
  case "$out" in "$prefix:refunds"$'\n'*) ;; *) echo "refunds.sh: BRPOP: $out" >&2; exit 4 ;; esac
  apply "${out#*$'\n'}"
  seen=$((seen + 1)) quiet_since=$(date +%s)
done
