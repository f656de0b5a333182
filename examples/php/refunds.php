#!/usr/bin/env php
<?php
// examples/php/refunds.php — a runwayd refund consumer in PHP: takes refund events from
// <prefix>:refunds (BRPOP, oldest first) and applies each exactly once by refund_id.
//
//   php examples/php/refunds.php [--db=FILE] [--count=N] [--idle=S]
//
// The state file (default ./refunds.json) holds the applied refunds by refund_id and the
// users' balances. Each refund is applied under an exclusive lock (flock on FILE.lock):
// read the state, skip a known refund_id, else record it with the credit and replace the
// file atomically (temporary file + rename), so several consumers can share one file.
// Prints "refunded N credits to USER (REFUND_ID)" per applied refund; duplicates and
// malformed events go to stderr. Environment: REDIS_URL, RUNWAY_PREFIX.
declare(strict_types=1);
require __DIR__ . '/Resp.php';

$o = array_merge(['db' => 'refunds.json', 'count' => '0', 'idle' => '0'], getopt('', ['db:', 'count:', 'idle:'], $rest));
$known = preg_grep('/^--(db|count|idle)=/', array_slice($argv, 1));
if ($rest < $argc || count($known) !== $argc - 1 || !ctype_digit((string)$o['count']) || !is_numeric($o['idle'])) {
    fwrite(STDERR, "usage: refunds.php [--db=FILE] [--count=N] [--idle=S]\n");
    exit(2);
}

/** Applies one refund; true when applied, false for a refund_id already applied. */
function applyRefund(string $db, array $event): bool
{
    $lock = fopen("$db.lock", 'c');
    flock($lock, LOCK_EX);
    try {
        $state = is_file($db) ? json_decode((string)file_get_contents($db), true, 512, JSON_THROW_ON_ERROR)
                              : ['applied' => [], 'balances' => []];
        if (isset($state['applied'][$event['refund_id']])) {
            return false;
        }
        $state['applied'][$event['refund_id']] = ['user' => $event['user'] ?? null, 'credits' => $event['credits'],
                                                  'reason' => $event['reason'] ?? null, 'applied_at' => gmdate('c')];
        if (isset($event['user'])) {
            $state['balances'][$event['user']] = ($state['balances'][$event['user']] ?? 0) + $event['credits'];
        }
        $tmp = "$db.tmp";
        // Objects only: an id such as "0" must not turn the map into a JSON list.
        $flags = JSON_FORCE_OBJECT | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_THROW_ON_ERROR;
        file_put_contents($tmp, json_encode($state, $flags), LOCK_EX);
        rename($tmp, $db);
        return true;
    } finally {
        flock($lock, LOCK_UN);
        fclose($lock);
    }
}

function isRefund(mixed $e): bool
{
    return is_array($e) && ($e['v'] ?? null) === 1 && is_string($e['refund_id'] ?? null)
        && is_int($e['credits'] ?? null) && $e['credits'] >= 0;
}

$prefix = getenv('RUNWAY_PREFIX') ?: 'runway';
$seen = 0;
$quietSince = microtime(true);
try {
    $redis = new Resp(getenv('REDIS_URL') ?: 'redis://127.0.0.1:6379');
    while ((int)$o['count'] === 0 || $seen < (int)$o['count']) {
        $raw = $redis->brpop("$prefix:refunds", 1);
        if ($raw === null) {
            if ((float)$o['idle'] > 0 && microtime(true) - $quietSince >= (float)$o['idle']) {
                break;
            }
            continue;
        }
        $seen++;
        $quietSince = microtime(true);
        $event = json_decode($raw, true);
        if (!isRefund($event)) {
            fwrite(STDERR, "refunds.php: skipping an event that is not a v1 refund: $raw\n");
        } elseif (applyRefund($o['db'], $event)) {
            echo "refunded {$event['credits']} credits to " . ($event['user'] ?? '') . " ({$event['refund_id']})\n";
        } else {
            fwrite(STDERR, "refunds.php: refund {$event['refund_id']} already applied; ignoring the duplicate\n");
        }
    }
} catch (RespError $e) {
    fwrite(STDERR, "refunds.php: redis: {$e->getMessage()}\n");
    exit(4);
}
