<?php
// examples/php/Resp.php — a minimal Redis client (RESP2 over TCP or a unix socket) on
// PHP's standard stream functions, enough for the runwayd examples. A real service
// would use phpredis or Predis; this keeps the examples runnable with nothing but php-cli.
declare(strict_types=1);

final class RespError extends RuntimeException {}

final class Resp
{
    /** @var resource */
    private $sock;

    /** $url: redis://[user:password@]host[:port][/db] or unix:///path[?db=N] */
    public function __construct(string $url)
    {
        $u = parse_url($url);
        if ($u === false || !isset($u['scheme'])) {
            throw new InvalidArgumentException("redis url: cannot parse $url");
        }
        if ($u['scheme'] === 'redis') {
            $target = 'tcp://' . ($u['host'] ?? '127.0.0.1') . ':' . ($u['port'] ?? 6379);
            $db = ltrim($u['path'] ?? '', '/');
        } elseif ($u['scheme'] === 'unix') {
            $target = 'unix://' . ($u['path'] ?? '');
            parse_str($u['query'] ?? '', $q);
            $db = (string)($q['db'] ?? '');
        } else {
            throw new InvalidArgumentException("redis url: expected redis:// or unix://");
        }
        $sock = @stream_socket_client($target, $errno, $errstr, 5.0);
        if ($sock === false) {
            throw new RespError("cannot connect to $target: $errstr");
        }
        $this->sock = $sock;
        $user = isset($u['user']) ? rawurldecode($u['user']) : '';
        $pass = isset($u['pass']) ? rawurldecode($u['pass']) : null;
        if ($pass !== null) {
            $user === '' ? $this->call('AUTH', $pass) : $this->call('AUTH', $user, $pass);
        } elseif ($user !== '') {
            $this->call('AUTH', $user);  // redis://password@host
        }
        if ($db !== '' && $db !== '0') {
            $this->call('SELECT', $db);
        }
    }

    /** Sends one command; returns string|int|array|null; throws RespError on an error reply. */
    public function call(string ...$args): mixed
    {
        $out = '*' . count($args) . "\r\n";
        foreach ($args as $a) {
            $out .= '$' . strlen($a) . "\r\n" . $a . "\r\n";
        }
        if (fwrite($this->sock, $out) !== strlen($out)) {
            throw new RespError('write to redis failed');
        }
        return $this->read();
    }

    /** The oldest element of $key, waiting up to $seconds (at least 1); null when none came. */
    public function brpop(string $key, int $seconds): ?string
    {
        $pair = $this->call('BRPOP', $key, (string)max(1, $seconds));
        return $pair === null ? null : $pair[1];
    }

    private function line(): string
    {
        $l = fgets($this->sock);
        if ($l === false) {
            throw new RespError('redis closed the connection');
        }
        return substr($l, 0, -2);
    }

    private function read(): mixed
    {
        $l = $this->line();
        $rest = substr($l, 1);
        switch ($l[0] ?? '') {
            case '+': return $rest;
            case '-': throw new RespError($rest);
            case ':': return (int)$rest;
            case '$':
                $n = (int)$rest;
                if ($n < 0) {
                    return null;
                }
                $data = '';
                while (strlen($data) < $n + 2) {
                    $chunk = fread($this->sock, $n + 2 - strlen($data));
                    if ($chunk === false || $chunk === '') {
                        throw new RespError('redis closed the connection');
                    }
                    $data .= $chunk;
                }
                return substr($data, 0, $n);
            case '*':
                $n = (int)$rest;
                if ($n < 0) {
                    return null;
                }
                $items = [];
                for ($i = 0; $i < $n; $i++) {
                    $items[] = $this->read();
                }
                return $items;
        }
        throw new RespError("unexpected reply: $l");
    }
}
