<?php
// HTTP worker for the rpc/cli tests. GET /rpc?method=<m>&arg=<json> calls the RPC server
// from PHP (RR_RPC) and answers {"result": ...} or {"error": "..."}; other paths answer
// "ok <pid>". Each worker counts its requests in stderr ("handled <n>").
declare(strict_types=1);

require __DIR__ . '/../../php/autoload.php';

use RR\Http\HttpWorker;
use RR\RPC\RPC;

$http = HttpWorker::create();
$rpc = null;
while ($req = $http->waitRequest()) {
    $path = parse_url($req->uri, PHP_URL_PATH);
    if ($path === '/rpc') {
        parse_str($req->rawQuery, $q);
        try {
            $rpc ??= RPC::fromEnvironment();
            $arg = json_decode((string)($q['arg'] ?? 'true'), true);
            $result = $rpc->call((string)$q['method'], $arg);
            $http->respond(200, json_encode(['result' => $result]), ['Content-Type' => ['application/json']]);
        } catch (\Throwable $e) {
            $http->respond(200, json_encode(['error' => get_class($e) . ': ' . $e->getMessage()]));
        }
        continue;
    }
    $http->respond(200, 'ok ' . getmypid());
}
