<?php
/**
 * Jobs consumer for the driver conformance suite and the delivery ledger.
 *
 * Appends one JSON line per received job to the file named by RR_RECORD_FILE:
 *   {"id","job","pipeline","driver","queue","headers","payload"|"payload_len"+"payload_md5",
 *    "attempt","pid"}
 * where "attempt" counts how often this id was recorded before (1 = first delivery).
 * Then replies as the JSON payload asks: {"reply": "ack" | "nack" | "nack_requeue" |
 * "requeue" | "error" | "crash" | "sleep", "times": N, "delay": S, "seconds": S,
 * "headers": {...}}. Any reply other than "ack" applies while attempt <= times (default 1),
 * later deliveries are acked, so redelivery tests terminate. A payload that is not JSON
 * is acked.
 *
 * Self-contained goridge (spec/goridge.md, spec/worker-protocol.md) so it needs nothing
 * but php-cli.
 */

declare(strict_types=1);

$in = STDIN;
$out = STDOUT;
$record = getenv('RR_RECORD_FILE') ?: '/tmp/rr-jobs-recorder.jsonl';

function read_exact($in, int $n): ?string
{
    $buf = '';
    while (strlen($buf) < $n) {
        $chunk = fread($in, $n - strlen($buf));
        if ($chunk === false || $chunk === '') {
            if (feof($in)) {
                return null;
            }
            continue;
        }
        $buf .= $chunk;
    }
    return $buf;
}

/** @return array{0:int,1:int,2:array<int>,3:string}|null flags, byte10, options, payload */
function read_frame($in): ?array
{
    $head = read_exact($in, 12);
    if ($head === null) {
        return null;
    }
    $hl = ord($head[0]) & 0x0F;
    $flags = ord($head[1]);
    $len = unpack('V', substr($head, 2, 4))[1];
    $options = [];
    if ($hl > 3) {
        $raw = read_exact($in, ($hl - 3) * 4);
        $options = array_values(unpack('V*', $raw));
    }
    $payload = $len > 0 ? read_exact($in, $len) : '';
    return [$flags, ord($head[10]), $options, $payload ?? ''];
}

function write_frame($out, int $flags, array $options, string $payload): void
{
    $hl = 3 + count($options);
    $head = chr(0x10 | $hl) . chr($flags) . pack('V', strlen($payload));
    $head .= pack('V', crc32($head)) . "\0\0";
    foreach ($options as $o) {
        $head .= pack('V', $o);
    }
    $frame = $head . $payload;
    $written = 0;
    while ($written < strlen($frame)) {
        $n = fwrite($out, substr($frame, $written));
        if ($n === false || $n === 0) {
            exit(1);
        }
        $written += $n;
    }
    fflush($out);
}

function record(string $file, array $ctx, string $body): int
{
    $fh = fopen($file, 'c+');
    flock($fh, LOCK_EX);
    $attempt = 1;
    $needle = '"id":' . json_encode($ctx['id'] ?? '', JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE) . ',';
    while (($line = fgets($fh)) !== false) {
        if (str_contains($line, $needle)) {
            $attempt++;
        }
    }
    $entry = [
        'id' => $ctx['id'] ?? '',
        'job' => $ctx['job'] ?? '',
        'pipeline' => $ctx['pipeline'] ?? '',
        'driver' => $ctx['driver'] ?? '',
        'queue' => $ctx['queue'] ?? null,
        'headers' => (object)($ctx['headers'] ?? []),
    ];
    if (strlen($body) <= 4096) {
        $entry['payload'] = $body;
    } else {
        $entry['payload_len'] = strlen($body);
        $entry['payload_md5'] = md5($body);
    }
    $entry['attempt'] = $attempt;
    $entry['pid'] = getmypid();
    fseek($fh, 0, SEEK_END);
    fwrite($fh, json_encode($entry, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE) . "\n");
    fflush($fh);
    flock($fh, LOCK_UN);
    fclose($fh);
    return $attempt;
}

function reply($out, array $body): void
{
    write_frame($out, 0, [0], json_encode($body, JSON_UNESCAPED_SLASHES));
}

while (true) {
    $frame = read_frame($in);
    if ($frame === null) {
        exit(0);
    }
    [$flags, $byte10, $options, $payload] = $frame;
    if ($flags & 0x01) {                       // control: pid request or stop
        $cmd = json_decode($payload, true) ?: [];
        if (!empty($cmd['stop'])) {
            exit(0);
        }
        if (!empty($cmd['pid'])) {
            write_frame($out, 0x01, [], json_encode(['pid' => getmypid()]));
        }
        continue;
    }
    if ($byte10 !== 0) {                       // STOP / PONG: nothing to answer
        continue;
    }
    $ctxLen = $options[0] ?? 0;
    $ctx = json_decode(substr($payload, 0, $ctxLen), true) ?: [];
    $body = substr($payload, $ctxLen);
    $attempt = record($record, $ctx, $body);

    $ask = json_decode($body, true);
    $action = is_array($ask) ? ($ask['reply'] ?? 'ack') : 'ack';
    $times = is_array($ask) ? (int)($ask['times'] ?? 1) : 1;
    if ($action !== 'ack' && $attempt > $times) {
        $action = 'ack';
    }
    $delay = is_array($ask) ? (int)($ask['delay'] ?? 0) : 0;
    $headers = $ctx['headers'] ?? [];
    if (!is_array($headers)) {
        $headers = [];
    }
    switch ($action) {
        case 'nack':
            reply($out, ['type' => 3, 'data' => ['message' => 'nacked', 'requeue' => false, 'delay_seconds' => $delay]]);
            break;
        case 'nack_requeue':
            reply($out, ['type' => 3, 'data' => ['message' => 'again', 'requeue' => true, 'delay_seconds' => $delay]]);
            break;
        case 'requeue':
            foreach (($ask['headers'] ?? []) as $k => $v) {
                $headers[$k] = is_array($v) ? $v : [(string)$v];
            }
            $headers['attempt'] = [(string)($attempt + 1)];
            reply($out, ['type' => 4, 'data' => ['message' => 'requeued', 'delay_seconds' => $delay, 'headers' => (object)$headers]]);
            break;
        case 'error':
            write_frame($out, 0x40, [], 'recorder error');
            break;
        case 'crash':
            posix_kill(getmypid(), 9);
            exit(9);
        case 'sleep':
            usleep((int)(1_000_000 * (float)($ask['seconds'] ?? 1)));
            reply($out, ['type' => 2, 'data' => []]);
            break;
        default:
            reply($out, ['type' => 2, 'data' => []]);
    }
}
