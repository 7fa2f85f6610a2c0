<?php
/**
 * Lock client fixture (RR\Lock\Lock over RPC, proto codec), driven line by line.
 * php lock_client.php <rpc address>; reads JSON commands from stdin, one per line:
 *   {"op":"lock"|"lockRead","resource":..,"id":..|null,"ttl":s,"wait":s}
 *   {"op":"release"|"updateTTL"|"exists"|"forceRelease", ...}
 * and answers each with one JSON line {"result": ..., "ms": elapsed} or {"error": ..}.
 */
declare(strict_types=1);

require __DIR__ . '/../../php/autoload.php';

use RR\Lock\Lock;
use RR\RPC\RPC;

$lock = new Lock(RPC::create($argv[1]));
echo json_encode(['ready' => getmypid()]), "\n";
while (($line = fgets(STDIN)) !== false) {
    $c = json_decode($line, true, 512, JSON_THROW_ON_ERROR);
    $t0 = hrtime(true);
    try {
        $result = match ($c['op']) {
            'lock' => $lock->lock($c['resource'], $c['id'] ?? null, $c['ttl'] ?? 0, $c['wait'] ?? 0),
            'lockRead' => $lock->lockRead($c['resource'], $c['id'] ?? null, $c['ttl'] ?? 0, $c['wait'] ?? 0),
            'release' => $lock->release($c['resource'], $c['id']),
            'forceRelease' => $lock->forceRelease($c['resource']),
            'exists' => $lock->exists($c['resource'], $c['id'] ?? null),
            'updateTTL' => $lock->updateTTL($c['resource'], $c['id'], $c['ttl']),
        };
        $out = ['result' => $result];
    } catch (\Throwable $e) {
        $out = ['error' => get_class($e) . ': ' . $e->getMessage()];
    }
    $out['ms'] = (hrtime(true) - $t0) / 1e6;
    echo json_encode($out), "\n";
}
