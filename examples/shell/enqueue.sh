#!/usr/bin/env bash
# examples/shell/enqueue.sh — a runwayd producer in bash: push one job with redis-cli,
# wait for its result on a reply list of its own, print it. JSON is built and read
# with jq, so any text is escaped correctly.
#
#   examples/shell/enqueue.sh [--id ID] [--endpoint E] [--model M] [--prompt TEXT]
#       [--image URI] [--ratio W:H] [--duration S] [--charged N] [--user U]
#       [--client NAME] [--timeout S]
#   environment: REDIS_URL (redis://[user:password@]host:port[/db], default
#   redis://127.0.0.1:6379), RUNWAY_PREFIX (the daemon's redis.prefix, default runway)
#
# The result event (one line of JSON) goes to stdout, a summary to stderr.
# Exit codes: 0 succeeded, 1 failed or cancelled, 2 usage, 3 no result within --timeout,
# 4 Redis error. Needs bash, redis-cli (redis-tools) and jq.
set -euo pipefail

usage() { sed -n '4,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

id="sh_$(date +%s%N)_$$"
endpoint=text_to_video model=gen4.5 prompt="a red kite over the sea" image="" ratio=1280:720
duration=5 charged=0 user="" client="sh-$(hostname)-$$" timeout=600
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || usage
  case "$1" in
    --id) id=$2 ;; --endpoint) endpoint=$2 ;; --model) model=$2 ;; --prompt) prompt=$2 ;;
    --image) image=$2 ;; --ratio) ratio=$2 ;; --duration) duration=$2 ;; --charged) charged=$2 ;;
    --user) user=$2 ;; --client) client=$2 ;; --timeout) timeout=$2 ;;
    *) usage ;;
  esac
  shift 2
done
[[ $duration =~ ^[0-9]+(\.[0-9]+)?$ && $charged =~ ^[0-9]+$ && $timeout =~ ^[0-9]+$ ]] || usage
for tool in redis-cli jq; do
  command -v "$tool" >/dev/null || { echo "enqueue.sh: $tool not found (apt-get install redis-tools jq)" >&2; exit 4; }
done

prefix=${RUNWAY_PREFIX:-runway}
# Credentials go to redis-cli in REDISCLI_AUTH, never on its command line (ps shows that).
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

reply_to="$prefix:results:$client"
job=$(jq -nc --arg id "$id" --arg endpoint "$endpoint" --arg model "$model" --arg prompt "$prompt" \
  --arg image "$image" --arg ratio "$ratio" --argjson duration "$duration" --argjson charged "$charged" \
  --arg user "$user" --arg reply_to "$reply_to" '
  {v: 1, id: $id, endpoint: $endpoint,
   body: ({model: $model, promptText: $prompt, ratio: $ratio, duration: $duration}
          + (if $image != "" then {promptImage: $image} else {} end)),
   charged: $charged, reply_to: $reply_to, meta: {producer: "examples/shell"}}
  + (if $user != "" then {user: $user} else {} end)')

len=$(redis LPUSH "$prefix:jobs" "$job" 2>&1) || true
[[ $len =~ ^[0-9]+$ ]] || { echo "enqueue.sh: LPUSH $prefix:jobs: $len" >&2; exit 4; }
echo "enqueued $id; waiting for its result on $reply_to" >&2

deadline=$(( $(date +%s) + timeout ))
while [ "$(date +%s)" -lt "$deadline" ]; do
  # BRPOP answers "key\nvalue", or nothing after 5 s.
  out=$(redis BRPOP "$reply_to" 5 2>&1) || { echo "enqueue.sh: BRPOP: $out" >&2; exit 4; }
  [ -z "$out" ] && continue
  case "$out" in "$reply_to"$'\n'*) ;; *) echo "enqueue.sh: BRPOP: $out" >&2; exit 4 ;; esac
  result=${out#*$'\n'}
  if [ "$(jq -r '.id' <<<"$result")" != "$id" ]; then
    echo "enqueue.sh: ignoring a result for another job on $reply_to" >&2
    continue
  fi
  printf '%s\n' "$result"
  status=$(jq -r '.status' <<<"$result")
  if [ "$status" = succeeded ]; then
    jq -r '"\(.id) succeeded: \(.output | join(" "))"' <<<"$result" >&2
    exit 0
  fi
  jq -r '"\(.id) \(.status): \(.error.class) \(.error.message)" +
         (if .refund then " (refund of \(.refund.credits) credits)" else "" end)' <<<"$result" >&2
  exit 1
done
echo "enqueue.sh: no result for $id within ${timeout}s" >&2
exit 3
