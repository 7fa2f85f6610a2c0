<?php
/**
 * One job at a time per resource, across processes: take rr's lock, log through rr's
 * app logger, release. Run it twice at once against `rr serve -c .rr.yaml.example`:
 *
 *   php php/examples/lock_and_log.php report:42 & php php/examples/lock_and_log.php report:42
 *
 * The second waits for the first (or gives up after 5 s); both lines land in rr's log
 * in channel `app`. The RPC address comes from RR_RPC (default tcp://127.0.0.1:6001).
 */
declare(strict_types=1);

require __DIR__ . '/../autoload.php';

use RR\Lock\Lock;
use RR\Logger\Logger;
use RR\RPC\RPC;

$resource = $argv[1] ?? 'report:42';
$work = (float)($argv[2] ?? 1.0); // seconds of "work" under the lock

$rpc = RPC::fromEnvironment();
$lock = new Lock($rpc);
$logger = new Logger($rpc);

// ttl: the lock frees itself if this process dies holding it; waitTTL: how long to queue
$id = $lock->lock($resource, ttl: 30, waitTTL: 5);
if ($id === false) {
    $logger->warning('busy, giving up', ['resource' => $resource, 'pid' => getmypid()]);
    exit(1);
}
try {
    $logger->info('working', ['resource' => $resource, 'pid' => getmypid(), 'lock' => $id]);
    usleep((int)($work * 1e6));
    $logger->info('done', ['resource' => $resource, 'pid' => getmypid()]);
} finally {
    $lock->release($resource, $id);
}
