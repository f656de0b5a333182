#!/usr/bin/env node
// examples/node/refunds.mjs — a runwayd refund consumer with ioredis: takes refund
// events from <prefix>:refunds (BRPOP, oldest first) and applies each exactly once by
// refund_id.
//
//   node refunds.mjs [--db FILE] [--count N] [--idle S]
//   --db FILE   the consumer's state, JSON (default ./refunds.json): the applied refunds by
//               refund_id, and the users' balances; rewritten atomically (temp file +
//               rename) after every refund, so the id and the credit land together
//   --count N   stop after N events (default: never)
//   --idle S    stop after S seconds without an event (default: never)
// Environment: REDIS_URL, RUNWAY_PREFIX (as for enqueue.mjs).
//
// Prints "refunded N credits to USER (REFUND_ID)" per applied refund; duplicates and
// malformed events go to stderr. One consumer per state file: several consumers need a
// shared store with a unique key on refund_id (a database table, or Redis SET NX).
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { parseArgs } from 'node:util';
import Redis from 'ioredis';

let opts;
try {
  opts = parseArgs({ options: { db: { type: 'string', default: 'refunds.json' },
                                count: { type: 'string', default: '0' },
                                idle: { type: 'string', default: '0' } } }).values;
  for (const k of ['count', 'idle']) {
    if (!/^\d+$/.test(opts[k])) throw new Error(`--${k} needs a whole number, got '${opts[k]}'`);
    opts[k] = Number(opts[k]);
  }
} catch (e) {
  console.error(`refunds.mjs: ${e.message}`);
  process.exit(2);
}

const state = existsSync(opts.db) ? JSON.parse(readFileSync(opts.db, 'utf8')) : { applied: {}, balances: {} };

function save() {
  const tmp = `${opts.db}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, JSON.stringify(state));
    fsyncSync(fd);  // on disk before it replaces the old state
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, opts.db);
}

// Returns true when applied, false for a refund_id already applied.
function applyRefund(event) {
  if (Object.hasOwn(state.applied, event.refund_id)) return false;
  state.applied[event.refund_id] = { user: event.user ?? null, credits: event.credits, reason: event.reason,
                                     applied_at: new Date().toISOString() };
  if (event.user != null) state.balances[event.user] = (state.balances[event.user] ?? 0) + event.credits;
  save();
  return true;
}

const isRefund = (e) => e !== null && typeof e === 'object' && e.v === 1 && typeof e.refund_id === 'string' &&
                        Number.isInteger(e.credits) && e.credits >= 0;

const prefix = process.env.RUNWAY_PREFIX ?? 'runway';
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
                        { maxRetriesPerRequest: 1, retryStrategy: () => null });
let lastError = null;
redis.on('error', (e) => { lastError = e; });  // reported when a command fails

async function run() {
  let seen = 0;
  let quietSince = Date.now();
  while (opts.count === 0 || seen < opts.count) {
    const item = await redis.brpop(`${prefix}:refunds`, 1);
    if (item === null) {
      if (opts.idle > 0 && Date.now() - quietSince >= opts.idle * 1000) break;
      continue;
    }
    seen += 1;
    quietSince = Date.now();
    let event = null;
    try { event = JSON.parse(item[1]); } catch { /* reported below */ }
    if (!isRefund(event)) {
      console.error(`refunds.mjs: skipping an event that is not a v1 refund: ${item[1]}`);
    } else if (applyRefund(event)) {
      console.log(`refunded ${event.credits} credits to ${event.user} (${event.refund_id})`);
    } else {
      console.error(`refunds.mjs: refund ${event.refund_id} already applied; ignoring the duplicate`);
    }
  }
  return 0;
}

let code;
try {
  code = await run();
} catch (e) {
  console.error(`refunds.mjs: redis: ${(lastError ?? e).message}`);
  code = 4;
}
redis.disconnect();
process.exitCode = code;
