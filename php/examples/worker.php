<?php

/**
 * The one worker script of .rr.yaml.example.
 *
 * RR_MODE=jobs → a jobs consumer that logs each job to stderr and acks it.
 * otherwise    → an HTTP worker: "Hello from rr, <method> <path>", and /json echoes
 *                the request as JSON.
 */

declare(strict_types=1);

require __DIR__ . '/../autoload.php';

use RR\Environment;
use RR\Http\HttpWorker;
use RR\Jobs\Consumer;
use RR\Worker;

$env = Environment::fromGlobals();
$worker = Worker::create(env: $env);

if ($env->getMode() === Environment::MODE_JOBS) {
    $consumer = new Consumer($worker);
    while ($task = $consumer->waitTask()) {
        try {
            fwrite(STDERR, sprintf(
                "job %s %s from %s: %s\n",
                $task->getId(),
                $task->getName(),
                $task->getPipeline(),
                $task->getPayload(),
            ));
            $task->ack();
        } catch (\Throwable $e) {
            $task->nack($e);
        }
    }
    return;
}

$http = new HttpWorker($worker);
while (true) {
    try {
        $request = $http->waitRequest();
        if ($request === null) {
            break;
        }
    } catch (\Throwable $e) {
        $http->respond(400, 'Bad Request');
        continue;
    }

    try {
        $path = $request->getPath();
        if ($path === '/json') {
            $http->respond(200, json_encode([
                'method' => $request->method,
                'uri' => $request->uri,
                'path' => $path,
                'query' => $request->query,
                'headers' => $request->headers,
                'cookies' => $request->cookies,
                'remoteAddr' => $request->getRemoteAddr(),
                'parsed' => $request->getParsedBody(),
                'body' => $request->body,
            ], JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES), ['Content-Type' => ['application/json']]);
            continue;
        }
        $http->respond(
            200,
            sprintf('Hello from rr, %s %s', $request->method, $path),
            ['Content-Type' => ['text/plain; charset=utf-8']],
        );
    } catch (\Throwable $e) {
        $http->respond(500, 'Something Went Wrong!');
        $worker->error((string)$e);
    }
}
