#!/usr/bin/env node
// examples/node/enqueue.mjs — a runwayd producer with ioredis: pushes one job (wire
// contract v1, docs/job-format.md) onto <prefix>:jobs with a reply list of its own,
// waits for its result there, prints it.
//
//   node enqueue.mjs [--id ID] [--endpoint E] [--model M] [--prompt TEXT] [--image URI]
//       [--ratio W:H] [--duration S] [--charged N] [--user U] [--client NAME] [--timeout S]
//
// Environment: REDIS_URL (default redis://127.0.0.1:6379), RUNWAY_PREFIX (default runway).
// The result event goes to stdout as one line of JSON, a summary to stderr.
// Exit codes: 0 succeeded, 1 failed or cancelled, 2 usage, 3 no result within --timeout,
// 4 Redis error. Needs `npm install` (ioredis) next to this file.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import Redis from 'ioredis';

function options() {
  try {
    const { values } = parseArgs({
      options: {
        id: { type: 'string', default: `node_${randomUUID()}` },
        endpoint: { type: 'string', default: 'text_to_video' },
        model: { type: 'string', default: 'gen4.5' },
        prompt: { type: 'string', default: 'a red kite over the sea' },
        image: { type: 'string' },
        ratio: { type: 'string', default: '1280:720' },
        duration: { type: 'string', default: '5' },
        charged: { type: 'string', default: '0' },
        user: { type: 'string' },
        client: { type: 'string', default: `node-${hostname()}-${process.pid}` },
        timeout: { type: 'string', default: '600' },
      },
    });
    const num = (name, integer) => {
      const v = Number(values[name]);
      if (values[name] === '' || !Number.isFinite(v) || v < 0 || (integer && !Number.isInteger(v))) {
        throw new Error(`--${name} needs a ${integer ? 'whole ' : ''}number, got '${values[name]}'`);
      }
      return v;
    };
    return { ...values, duration: num('duration', false), charged: num('charged', true), timeout: num('timeout', false) };
  } catch (e) {
    console.error(`enqueue.mjs: ${e.message}`);
    process.exit(2);
  }
}

const opts = options();
const prefix = process.env.RUNWAY_PREFIX ?? 'runway';
const replyTo = `${prefix}:results:${opts.client}`;
const body = { model: opts.model, promptText: opts.prompt, ratio: opts.ratio, duration: opts.duration };
if (opts.image) body.promptImage = opts.image;
const job = { v: 1, id: opts.id, endpoint: opts.endpoint, body, charged: opts.charged, reply_to: replyTo,
              meta: { producer: 'examples/node' } };
if (opts.user !== undefined) job.user = opts.user;

// Fail fast instead of retrying forever when Redis is down.
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
                        { maxRetriesPerRequest: 1, retryStrategy: () => null });
let lastError = null;
redis.on('error', (e) => { lastError = e; });  // reported when a command fails

async function run() {
  await redis.lpush(`${prefix}:jobs`, JSON.stringify(job));
  console.error(`enqueued ${opts.id}; waiting for its result on ${replyTo}`);
  const deadline = Date.now() + opts.timeout * 1000;
  while (Date.now() < deadline) {
    const left = Math.ceil((deadline - Date.now()) / 1000);
    const item = await redis.brpop(replyTo, Math.max(1, Math.min(5, left)));
    if (item === null) continue;
    const result = JSON.parse(item[1]);
    if (result.id !== opts.id) {
      console.error(`ignoring a result for another job on ${replyTo}`);
      continue;
    }
    console.log(JSON.stringify(result));
    if (result.status === 'succeeded') {
      console.error(`${opts.id} succeeded: ${(result.output ?? []).join(' ')}`);
      return 0;
    }
    const refund = result.refund ? ` (refund of ${result.refund.credits} credits)` : '';
    console.error(`${opts.id} ${result.status}: ${result.error?.class} ${result.error?.message}${refund}`);
    return 1;
  }
  console.error(`enqueue.mjs: no result for ${opts.id} within ${opts.timeout}s`);
  return 3;
}

let code;
try {
  code = await run();
} catch (e) {
  console.error(`enqueue.mjs: redis: ${(lastError ?? e).message}`);
  code = 4;
}
redis.disconnect();
process.exitCode = code;
