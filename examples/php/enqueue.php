#!/usr/bin/env php
<?php
// examples/php/enqueue.php — a runwayd producer in PHP: pushes one job (wire contract
// v1, docs/job-format.md) onto <prefix>:jobs with a reply list of its own, waits for
// its result there, prints it.
//
//   php examples/php/enqueue.php [--id=ID] [--endpoint=E] [--model=M] [--prompt=TEXT]
//       [--image=URI] [--ratio=W:H] [--duration=S] [--charged=N] [--user=U]
//       [--client=NAME] [--timeout=S]
//
// Environment: REDIS_URL (default redis://127.0.0.1:6379), RUNWAY_PREFIX (default runway).
// The result event goes to stdout as one line of JSON, a summary to stderr.
// Exit codes: 0 succeeded, 1 failed or cancelled, 2 usage, 3 no result within --timeout,
// 4 Redis error. php-cli only (see Resp.php).
declare(strict_types=1);
require __DIR__ . '/Resp.php';

$names = ['id', 'endpoint', 'model', 'prompt', 'image', 'ratio', 'duration', 'charged', 'user', 'client', 'timeout'];
$given = getopt('', array_map(fn ($n) => "$n:", $names), $rest);
// getopt() skips unknown options silently: every argument must be --NAME=VALUE of a known NAME.
$known = preg_grep('/^--(' . implode('|', $names) . ')=/', array_slice($argv, 1));
if ($rest < $argc || count($known) !== $argc - 1) {
    fwrite(STDERR, "usage: enqueue.php [--NAME=VALUE ...] with NAME one of " . implode(', ', $names) . "\n");
    exit(2);
}
$o = array_merge(['id' => 'php_' . bin2hex(random_bytes(8)), 'endpoint' => 'text_to_video', 'model' => 'gen4.5',
                  'prompt' => 'a red kite over the sea', 'ratio' => '1280:720', 'duration' => '5', 'charged' => '0',
                  'client' => 'php-' . gethostname() . '-' . getmypid(), 'timeout' => '600'], $given);
foreach (['duration', 'timeout'] as $k) {
    if (!is_numeric($o[$k]) || (float)$o[$k] < 0) {
        fwrite(STDERR, "enqueue.php: --$k needs a number\n");
        exit(2);
    }
}
if (!ctype_digit((string)$o['charged'])) {
    fwrite(STDERR, "enqueue.php: --charged needs a whole number\n");
    exit(2);
}

$prefix = getenv('RUNWAY_PREFIX') ?: 'runway';
$replyTo = "$prefix:results:{$o['client']}";
$duration = (float)$o['duration'] == floor((float)$o['duration']) ? (int)$o['duration'] : (float)$o['duration'];
$body = ['model' => $o['model'], 'promptText' => $o['prompt'], 'ratio' => $o['ratio'], 'duration' => $duration];
if (isset($o['image'])) {
    $body['promptImage'] = $o['image'];
}
$job = ['v' => 1, 'id' => $o['id'], 'endpoint' => $o['endpoint'], 'body' => $body, 'charged' => (int)$o['charged'],
        'reply_to' => $replyTo, 'meta' => ['producer' => 'examples/php']];
if (isset($o['user'])) {
    $job['user'] = $o['user'];
}

try {
    $redis = new Resp(getenv('REDIS_URL') ?: 'redis://127.0.0.1:6379');
    $redis->call('LPUSH', "$prefix:jobs", json_encode($job, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_THROW_ON_ERROR));
    fwrite(STDERR, "enqueued {$o['id']}; waiting for its result on $replyTo\n");
    $deadline = microtime(true) + (float)$o['timeout'];
    while (($left = $deadline - microtime(true)) > 0) {
        $raw = $redis->brpop($replyTo, (int)min(5, ceil($left)));
        if ($raw === null) {
            continue;
        }
        $result = json_decode($raw, true);
        if (!is_array($result) || ($result['id'] ?? null) !== $o['id']) {
            fwrite(STDERR, "ignoring a result for another job on $replyTo\n");
            continue;
        }
        echo $raw, "\n";
        if ($result['status'] === 'succeeded') {
            fwrite(STDERR, "{$o['id']} succeeded: " . implode(' ', $result['output'] ?? []) . "\n");
            exit(0);
        }
        $note = isset($result['refund']['credits']) ? " (refund of {$result['refund']['credits']} credits)" : '';
        fwrite(STDERR, "{$o['id']} {$result['status']}: {$result['error']['class']} {$result['error']['message']}$note\n");
        exit(1);
    }
} catch (RespError $e) {
    fwrite(STDERR, "enqueue.php: redis: {$e->getMessage()}\n");
    exit(4);
}
fwrite(STDERR, "enqueue.php: no result for {$o['id']} within {$o['timeout']}s\n");
exit(3);
