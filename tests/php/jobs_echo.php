<?php
/**
 * Minimal jobs worker for benchmarks: acks every task without decoding it
 * (measures the server's path, not PHP's JSON parsing).
 */
declare(strict_types=1);

require __DIR__ . '/../../php/autoload.php';

use RR\Payload;
use RR\Worker;

$worker = Worker::create();
$ack = new Payload('{"type":2,"data":[]}');
while ($worker->waitPayload() !== null) {
    $worker->respond($ack);
}
