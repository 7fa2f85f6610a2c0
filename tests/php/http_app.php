<?php
// Test app for the http plugin: routes on the request path, answers with JSON describing
// what the worker received, or misbehaves on purpose (crash, error frame, slow, stream).
declare(strict_types=1);

require __DIR__ . '/../../php/autoload.php';

use RR\Goridge\Frame;
use RR\Http\HttpWorker;
use RR\Payload;
use RR\Worker;

$worker = Worker::create();
$http = new HttpWorker($worker);

function reply(Worker $w, int $status, string $body, array $headers = []): void
{
    $ctx = json_encode(['status' => $status, 'headers' => $headers === [] ? new stdClass() : $headers]);
    $w->respond(new Payload($body, $ctx), Frame::CODEC_JSON);
}

while ($payload = $worker->waitPayload()) {
    $ctx = json_decode($payload->header, true);
    $path = parse_url($ctx['uri'], PHP_URL_PATH);
    parse_str($ctx['rawQuery'], $q);
    switch ($path) {
        case '/crash':
            exit(1);
        case '/error':
            $worker->error('boom');
            break;
        case '/sleep':
            usleep((int)($q['ms'] ?? 100) * 1000);
            reply($worker, 200, 'slept ' . getmypid());
            break;
        case '/pid':
            reply($worker, 200, (string)getmypid());
            break;
        case '/status':
            reply($worker, (int)$q['code'], 'status');
            break;
        case '/headers':
            reply($worker, 201, 'hdrs', [
                'X-Multi' => ['one', 'two'],
                'Set-Cookie' => ['a=1; Path=/', 'b=2; HttpOnly'],
                'Content-Type' => ['text/plain'],
                'X-Plain' => 'single',
            ]);
            break;
        case '/big':
            reply($worker, 200, str_repeat('abcdefghij', (int)($q['n'] ?? 500)), ['Content-Type' => ['text/plain']]);
            break;
        case '/hints':
            $http->respond(103, '', ['Link' => ['</style.css>; rel=preload; as=style']]);
            reply($worker, 200, 'after hints');
            break;
        case '/stream':
            $n = (int)($q['n'] ?? 5);
            $delay = (int)($q['ms'] ?? 0);
            $gen = (function () use ($n, $delay) {
                for ($i = 0; $i < $n; $i++) {
                    if ($delay) {
                        usleep($delay * 1000);
                    }
                    yield "chunk$i\n";
                }
            })();
            try {
                $http->respond(200, $gen, ['Content-Type' => ['text/plain'], 'X-Stream' => ['yes']]);
            } finally {
                file_put_contents(sys_get_temp_dir() . '/rr_http_stream_' . ($q['tag'] ?? 'x'), 'done');
            }
            break;
        case '/stream-crash':
            // one chunk of a streamed reply, then the worker dies mid-reply
            $http->respond(200, (function () {
                yield "first\n";
                exit(1);
            })(), ['Content-Type' => ['text/plain']]);
            break;
        case '/uploads':
            $out = [];
            array_walk_recursive($ctx['uploads'], function ($v, $k) use (&$out) {
                if ($k === 'tmpName' && $v !== '') {
                    $out[$v] = ['exists' => is_file($v), 'sha256' => hash_file('sha256', $v)];
                }
            });
            reply($worker, 200, json_encode(['ctx' => $ctx, 'body' => $payload->body, 'files' => $out]),
                ['Content-Type' => ['application/json']]);
            break;
        case '/stop':
            $worker->stop();
            break 2;
        default:
            reply($worker, 200, json_encode(['ctx' => $ctx, 'body' => $payload->body, 'pid' => getmypid()]),
                ['Content-Type' => ['application/json']]);
    }
}
