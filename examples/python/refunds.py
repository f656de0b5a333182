#!/usr/bin/env python3
"""examples/python/refunds.py: a runwayd refund consumer with redis-py and sqlite3.

Takes refund events from <prefix>:refunds (BRPOP, oldest first) and applies each
exactly once by refund_id: the refund is recorded and the user's balance credited in
one SQLite transaction, and refund_id is the table's primary key, so an event seen
twice (a redelivery, a restored backup, a restart between BRPOP and the commit's
acknowledgement) changes nothing the second time.

    python3 examples/python/refunds.py [--db FILE] [--count N] [--idle S]

--db FILE   SQLite database (default ./refunds.sqlite3): tables applied_refunds, balances
--count N   stop after N events (default: never)
--idle S    stop after S seconds without an event (default: never)
Environment: REDIS_URL, RUNWAY_PREFIX (as for enqueue.py).
Prints "refunded N credits to USER (REFUND_ID)" per applied refund; duplicates and
malformed events are reported on stderr.
"""
import argparse
import datetime
import json
import os
import sqlite3
import sys
import time

import redis

SCHEMA = """
CREATE TABLE IF NOT EXISTS applied_refunds (
  refund_id  TEXT PRIMARY KEY,
  user       TEXT,
  credits    INTEGER NOT NULL,
  reason     TEXT,
  applied_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS balances (
  user    TEXT PRIMARY KEY,
  credits INTEGER NOT NULL
);
"""


def apply_refund(db, event):
    """Applies one refund event; returns True when applied, False for a duplicate."""
    refund_id, user, credits = event["refund_id"], event.get("user"), event["credits"]
    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    with db:  # one transaction: the id and the credit are recorded together or not at all
        cur = db.execute(
            "INSERT OR IGNORE INTO applied_refunds (refund_id, user, credits, reason, applied_at) VALUES (?,?,?,?,?)",
            (refund_id, user, credits, event.get("reason"), now))
        if cur.rowcount == 0:
            return False
        if user is not None:
            db.execute("INSERT INTO balances (user, credits) VALUES (?, ?) "
                       "ON CONFLICT(user) DO UPDATE SET credits = credits + excluded.credits", (user, credits))
    return True


def valid(event):
    return (isinstance(event, dict) and event.get("v") == 1 and isinstance(event.get("refund_id"), str)
            and isinstance(event.get("credits"), int) and event["credits"] >= 0)


def main():
    p = argparse.ArgumentParser(description="Apply runwayd refund events exactly once.")
    p.add_argument("--db", default="refunds.sqlite3")
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--idle", type=float, default=0)
    args = p.parse_args()

    prefix = os.environ.get("RUNWAY_PREFIX", "runway")
    r = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"), decode_responses=True)
    db = sqlite3.connect(args.db)
    db.executescript(SCHEMA)
    seen, quiet_since = 0, time.monotonic()
    try:
        while args.count == 0 or seen < args.count:
            item = r.brpop(f"{prefix}:refunds", timeout=1)
            if item is None:
                if args.idle and time.monotonic() - quiet_since >= args.idle:
                    break
                continue
            seen, quiet_since = seen + 1, time.monotonic()
            try:
                event = json.loads(item[1])
            except ValueError:
                event = None
            if not valid(event):
                print(f"refunds.py: skipping an event that is not a v1 refund: {item[1]}", file=sys.stderr)
                continue
            if apply_refund(db, event):
                print(f"refunded {event['credits']} credits to {event.get('user')} ({event['refund_id']})", flush=True)
            else:
                print(f"refunds.py: refund {event['refund_id']} already applied; ignoring the duplicate",
                      file=sys.stderr, flush=True)
    except redis.exceptions.RedisError as e:
        print(f"refunds.py: redis: {e}", file=sys.stderr)
        return 4
    finally:
        db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
