<?php
/**
 * Producer fixture (RR\Jobs\Jobs over RPC, proto codec).
 * php jobs_producer.php <rpc address> <pipeline> <count> [declare] ; prints one JSON line:
 * {"ids":[...], "paused":bool, "pipelines":[...]}
 */
declare(strict_types=1);

require __DIR__ . '/../../php/autoload.php';

use RR\Jobs\Jobs;
use RR\Jobs\MemoryCreateInfo;
use RR\Jobs\Options;
use RR\RPC\RPC;

[, $address, $pipeline, $count] = $argv;
$jobs = new Jobs(RPC::create($address));
if (($argv[4] ?? '') === 'declare') {
    $queue = $jobs->create(new MemoryCreateInfo($pipeline));
    $paused = $queue->isPaused();
    $queue->resume();
} else {
    $queue = $jobs->connect($pipeline);
    $paused = $queue->isPaused();
}
$ids = [];
for ($i = 0; $i < (int)$count; $i++) {
    $ids[] = $queue->push('App\\Jobs\\Ping', 'ack', new Options(headers: ['n' => [(string)$i]]))->getId();
}
$pipelines = [];
foreach ($jobs as $name => $_) {
    $pipelines[] = $name;
}
echo json_encode(['ids' => $ids, 'paused' => $paused, 'pipelines' => $pipelines]), "\n";
