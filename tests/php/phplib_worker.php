<?php
/**
 * Fixture: plain RR\Worker. The request body selects the behaviour:
 *   error:<msg>  → soft error frame
 *   stop         → worker-initiated stop
 *   echo:<text>  → prints <text> (must land on stderr) then replies "printed"
 *   exit         → exits without replying
 *   anything     → replies "echo:<body>" with the request header
 */
declare(strict_types=1);

require __DIR__ . '/../../php/autoload.php';

use RR\Payload;
use RR\Worker;

$worker = Worker::create();
while ($payload = $worker->waitPayload()) {
    $body = $payload->body;
    if (str_starts_with($body, 'error:')) {
        $worker->error(substr($body, 6));
    } elseif ($body === 'stop') {
        $worker->stop();
    } elseif (str_starts_with($body, 'echo:')) {
        echo substr($body, 5);
        $worker->respond(new Payload('printed'));
    } elseif ($body === 'exit') {
        exit(3);
    } else {
        $worker->respond(new Payload('echo:' . $body, $payload->header));
    }
}
fwrite(STDERR, "worker loop ended\n");
