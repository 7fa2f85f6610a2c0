<?php
/**
 * php lock_loop.php <rpc address> <mode> <n> <resource>: n iterations of one loop,
 * prints {"seconds": wall time, "failed": lock attempts that came back false}.
 * Modes: noop (rpc.Version, JSON), exists (lock.Exists, proto), lock (Lock+Release),
 * read (LockRead+Release).
 */
declare(strict_types=1);

require __DIR__ . '/../../php/autoload.php';

use RR\Lock\Lock;
use RR\RPC\RPC;

[, $address, $mode, $n, $resource] = $argv;
$n = (int)$n;
$rpc = RPC::create($address);
$lock = new Lock($rpc);
$failed = 0;
$id = 'owner-' . getmypid();
$t0 = hrtime(true);
for ($i = 0; $i < $n; $i++) {
    switch ($mode) {
        case 'noop':
            $rpc->call('rpc.Version', true);
            break;
        case 'exists':
            $lock->exists($resource);
            break;
        case 'lock':
        case 'read':
            $got = $mode === 'lock'
                ? $lock->lock($resource, $id, 10, 5)
                : $lock->lockRead($resource, $id, 10, 5);
            if ($got === false) {
                $failed++;
            } else {
                $lock->release($resource, $id);
            }
            break;
    }
}
echo json_encode(['seconds' => (hrtime(true) - $t0) / 1e9, 'failed' => $failed]), "\n";
