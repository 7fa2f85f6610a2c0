<?php
/**
 * Echo worker for the observability tests. When the file named by OBS_MARKER exists
 * the worker exits before speaking the protocol, so the pool cannot (re)spawn workers.
 */

declare(strict_types=1);

require __DIR__ . '/../../php/autoload.php';

$marker = getenv('OBS_MARKER');
if ($marker !== false && $marker !== '' && file_exists($marker)) {
    fwrite(STDERR, "marker present, refusing to start\n");
    exit(3);
}

$worker = RR\Worker::create();
while ($payload = $worker->waitPayload()) {
    $worker->respond(new RR\Payload($payload->body, $payload->header));
}
