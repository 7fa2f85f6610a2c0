<?php
// The smallest correct goridge worker: pid handshake, echo the body, exit on stop.
// Shared by every driver in bench/pipes.py so that only the server side differs.
require __DIR__ . '/../../php/autoload.php';

$worker = RR\Worker::create();
while ($payload = $worker->waitPayload()) {
    $worker->respond(new RR\Payload($payload->body));
}
