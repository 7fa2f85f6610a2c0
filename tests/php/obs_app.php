<?php
/**
 * HTTP + jobs worker for the observability end-to-end tests. Refuses to start while the
 * file named by OBS_MARKER exists (so the pool cannot respawn workers).
 */

declare(strict_types=1);

require __DIR__ . '/../../php/autoload.php';

use RR\Environment;
use RR\Http\HttpWorker;
use RR\Jobs\Consumer;
use RR\Worker;

$marker = getenv('OBS_MARKER');
if ($marker !== false && $marker !== '' && file_exists($marker)) {
    fwrite(STDERR, "marker present, refusing to start\n");
    exit(3);
}

$env = Environment::fromGlobals();
$worker = Worker::create(env: $env);

if ($env->getMode() === Environment::MODE_JOBS) {
    $consumer = new Consumer($worker);
    while ($task = $consumer->waitTask()) {
        $task->ack();
    }
    return;
}

$http = new HttpWorker($worker);
while ($request = $http->waitRequest()) {
    $http->respond(200, 'ok ' . $request->getPath());
}
