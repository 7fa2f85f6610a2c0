<?php
/**
 * Fixture: RR\Http\HttpWorker. The path selects the behaviour:
 *   /stream?n=N  → generator with N chunks "chunk<i>\n" (catches StreamStoppedException
 *                  and reports it on stderr)
 *   /hints       → 103 early hints, then 200 "final"
 *   /fail        → SDK README catch pattern: 500 response + error frame
 *   /info        → JSON dump of the parsed request
 */
declare(strict_types=1);

require __DIR__ . '/../../php/autoload.php';

use RR\Http\HttpWorker;
use RR\Http\StreamStoppedException;

$http = HttpWorker::create();
while (true) {
    try {
        $request = $http->waitRequest();
        if ($request === null) {
            break;
        }
    } catch (\Throwable $e) {
        $http->respond(400, 'bad request: ' . $e->getMessage());
        continue;
    }
    try {
        switch ($request->getPath()) {
            case '/stream':
                $n = (int)($request->query['n'] ?? 3);
                $gen = (function () use ($n) {
                    try {
                        for ($i = 0; $i < $n; $i++) {
                            yield "chunk$i\n";
                        }
                    } catch (StreamStoppedException $e) {
                        fwrite(STDERR, "stream stopped\n");
                    }
                })();
                $http->respond(200, $gen, ['Content-Type' => ['text/plain']]);
                break;
            case '/hints':
                $http->respond(103, '', ['Link' => ['</style.css>; rel=preload; as=style']]);
                $http->respond(200, 'final');
                break;
            case '/fail':
                throw new \RuntimeException('boom');
            default:
                $http->respond(200, json_encode([
                    'remoteAddr' => $request->getRemoteAddr(),
                    'protocol' => $request->getProtocolVersion(),
                    'method' => $request->method,
                    'uri' => $request->uri,
                    'path' => $request->getPath(),
                    'headers' => $request->headers,
                    'cookies' => $request->cookies,
                    'query' => $request->query,
                    'parsed' => $request->getParsedBody(),
                    'body' => $request->body,
                    'uploads' => $request->uploads,
                    'attributes' => $request->attributes,
                ]), ['Content-Type' => ['application/json'], 'X-Multi' => ['a', 'b']]);
        }
    } catch (\Throwable $e) {
        $http->respond(500, 'Something Went Wrong!');
        $http->getWorker()->error((string)$e);
    }
}
