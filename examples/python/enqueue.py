#!/usr/bin/env python3
"""examples/python/enqueue.py: a runwayd producer with redis-py.

Pushes one job (wire contract v1, docs/job-format.md) onto <prefix>:jobs with a
reply list of its own, waits for its result there, prints it.

    python3 examples/python/enqueue.py [--id ID] [--endpoint E] [--model M]
        [--prompt TEXT] [--image URI] [--ratio W:H] [--duration S] [--charged N]
        [--user U] [--client NAME] [--timeout S]

Environment: REDIS_URL (default redis://127.0.0.1:6379), RUNWAY_PREFIX (default runway).
The result event goes to stdout as one line of JSON, a summary to stderr.
Exit codes: 0 succeeded, 1 failed or cancelled, 2 usage, 3 no result within --timeout,
4 Redis error. Needs redis-py (Debian: apt-get install python3-redis).
"""
import argparse
import json
import os
import socket
import sys
import time
import uuid

import redis


def build_job(args, reply_to):
    body = {"model": args.model, "promptText": args.prompt, "ratio": args.ratio, "duration": args.duration}
    if args.image:
        body["promptImage"] = args.image
    job = {"v": 1, "id": args.id, "endpoint": args.endpoint, "body": body, "charged": args.charged,
           "reply_to": reply_to, "meta": {"producer": "examples/python"}}
    if args.user is not None:
        job["user"] = args.user
    return job


def main():
    p = argparse.ArgumentParser(description="Enqueue one runwayd job and wait for its result.")
    p.add_argument("--id", default=f"py_{uuid.uuid4().hex}")
    p.add_argument("--endpoint", default="text_to_video")
    p.add_argument("--model", default="gen4.5")
    p.add_argument("--prompt", default="a red kite over the sea")
    p.add_argument("--image")
    p.add_argument("--ratio", default="1280:720")
    p.add_argument("--duration", type=float, default=5)
    p.add_argument("--charged", type=int, default=0)
    p.add_argument("--user")
    p.add_argument("--client", default=f"py-{socket.gethostname()}-{os.getpid()}")
    p.add_argument("--timeout", type=float, default=600)
    args = p.parse_args()  # exits 2 on a usage error
    if args.duration.is_integer():
        args.duration = int(args.duration)

    prefix = os.environ.get("RUNWAY_PREFIX", "runway")
    reply_to = f"{prefix}:results:{args.client}"
    r = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"), decode_responses=True)
    job = build_job(args, reply_to)
    try:
        r.lpush(f"{prefix}:jobs", json.dumps(job, separators=(",", ":"), ensure_ascii=False))
        print(f"enqueued {args.id}; waiting for its result on {reply_to}", file=sys.stderr)
        deadline = time.monotonic() + args.timeout
        while (left := deadline - time.monotonic()) > 0:
            # BRPOP takes whole seconds; short waits keep Ctrl-C responsive.
            item = r.brpop(reply_to, timeout=max(1, min(5, int(left))))
            if item is None:
                continue
            result = json.loads(item[1])
            if result.get("id") != args.id:
                print(f"ignoring a result for another job on {reply_to}", file=sys.stderr)
                continue
            print(json.dumps(result, separators=(",", ":"), ensure_ascii=False))
            if result["status"] == "succeeded":
                print(f"{args.id} succeeded: {' '.join(result.get('output', []))}", file=sys.stderr)
                return 0
            err = result.get("error") or {}
            refund = result.get("refund")
            note = f" (refund of {refund['credits']} credits)" if refund else ""
            print(f"{args.id} {result['status']}: {err.get('class')} {err.get('message')}{note}", file=sys.stderr)
            return 1
    except redis.exceptions.RedisError as e:
        print(f"enqueue.py: redis: {e}", file=sys.stderr)
        return 4
    print(f"enqueue.py: no result for {args.id} within {args.timeout:g}s", file=sys.stderr)
    return 3


if __name__ == "__main__":
    sys.exit(main())
