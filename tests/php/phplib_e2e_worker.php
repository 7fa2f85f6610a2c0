<?php
/**
 * Fixture for the end-to-end test: one script for both pools.
 *   RR_MODE=jobs → consumer: appends "<id> <name> <pipeline> <payload>" to $E2E_LOG and
 *                  acks (payload "requeue-once" is requeued with attempts=2 first).
 *   RR_MODE=http → /push?q=<pipeline>&p=<payload> pushes a job through RPC (RR_RPC;
 *                  409 + the server's message when the push fails),
 *                  /kv?k=&v= stores and reads back a value, /metric adds to a counter,
 *                  /stream streams 7 chunks, anything else says hello.
 */
declare(strict_types=1);

require __DIR__ . '/../../php/autoload.php';

use RR\Environment;
use RR\Http\HttpWorker;
use RR\Jobs\Consumer;
use RR\Jobs\Jobs;
use RR\KV\Factory;
use RR\Metrics\Collector;
use RR\Metrics\Metrics;
use RR\RPC\RPC;
use RR\Worker;

$env = Environment::fromGlobals();
$worker = Worker::create(env: $env);

if ($env->getMode() === 'jobs') {
    $consumer = new Consumer($worker);
    while ($task = $consumer->waitTask()) {
        if ($task->getPayload() === 'requeue-once' && !$task->hasHeader('attempts')) {
            $task->withHeader('attempts', '2')->requeue('again');
            continue;
        }
        file_put_contents((string)getenv('E2E_LOG'), sprintf(
            "%s %s %s %s %s\n", $task->getId(), $task->getName(), $task->getPipeline(),
            $task->getPayload(), $task->getHeaderLine('attempts'),
        ), FILE_APPEND | LOCK_EX);
        $task->ack();
    }
    return;
}

$http = new HttpWorker($worker);
$rpc = RPC::create($env->getRPCAddress());
while ($request = $http->waitRequest()) {
    try {
        $q = $request->query;
        switch ($request->getPath()) {
            case '/push':
                try {
                    $task = (new Jobs($rpc))->connect($q['q'])->push('E2E', $q['p']);
                    $http->respond(200, $task->getId());
                } catch (\RR\Jobs\JobsException $e) {
                    $http->respond(409, $e->getMessage());
                }
                break;
            case '/kv':
                $cache = (new Factory($rpc))->select('local');
                $cache->set($q['k'], ['v' => $q['v']], 600);
                $http->respond(200, json_encode([
                    'get' => $cache->get($q['k']),
                    'has' => $cache->has($q['k']),
                    'ttl' => $cache->getTtl($q['k'])?->getTimestamp(),
                ]));
                break;
            case '/metric':
                $metrics = new Metrics($rpc);
                $metrics->declare($q['n'], Collector::counter()->withHelp('e2e')->withLabels('page'));
                $metrics->add($q['n'], 2, ['home']);
                $http->respond(200, 'ok');
                break;
            case '/stream':
                $http->respond(200, (function () {
                    for ($i = 0; $i < 7; $i++) {
                        yield "part$i;";
                    }
                })());
                break;
            default:
                echo "stray echo must not break the worker\n";
                $http->respond(200, 'hello ' . $request->method, ['X-Lib' => ['rr-php']]);
        }
    } catch (\Throwable $e) {
        $http->respond(500, 'Something Went Wrong!');
        $worker->error((string)$e);
    }
}
