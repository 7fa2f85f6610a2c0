<?php

/**
 * A service for the service plugin tests. Writes "<pid> <unix time>" to $SVC_STARTS at
 * start, prints a line, then by $SVC_MODE:
 *   crash   → exits 1 at once;   loop → runs until SIGINT;
 *   stubborn → ignores SIGINT (only SIGKILL ends it);
 *   forker  → starts a child `sleep 300` (its pid to $SVC_CHILDREN) and waits.
 */

declare(strict_types=1);

$starts = getenv('SVC_STARTS') ?: '';
if ($starts !== '') {
    file_put_contents($starts, getmypid() . ' ' . microtime(true) . "\n", FILE_APPEND);
}
fwrite(STDOUT, 'service ' . (getenv('SVC_NAME') ?: '?') . ' up, foo=' . (getenv('FOO') ?: '') . "\n");

$mode = getenv('SVC_MODE') ?: 'loop';
if ($mode === 'crash') {
    exit(1);
}
pcntl_async_signals(true);
if ($mode === 'stubborn') {
    pcntl_signal(SIGINT, SIG_IGN);
} else {
    pcntl_signal(SIGINT, static function (): void {
        fwrite(STDERR, "got SIGINT\n");
        exit(0);
    });
}
if ($mode === 'forker') {
    $child = proc_open(['sleep', '300'], [], $pipes);
    $status = proc_get_status($child);
    file_put_contents(getenv('SVC_CHILDREN') ?: '/dev/null', $status['pid'] . "\n", FILE_APPEND);
}
while (true) {
    sleep(1);
}
