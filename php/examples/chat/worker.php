<?php

/**
 * A chat on rr's built-in WebSocket endpoint: no Centrifugo, no extra server.
 *
 * RR_MODE=centrifuge → the chat's rules: connect needs a name (it becomes the user id),
 *   only chat:* channels, a message is {text} of at most 500 bytes and goes out
 *   as {user, text}; rpc "announce" publishes a system line through centrifuge.Publish.
 * RR_MODE=http → 404 for anything the static middleware did not serve.
 */

declare(strict_types=1);

require __DIR__ . '/../../autoload.php';

use RR\Centrifugo\CentrifugoApi;
use RR\Centrifugo\CentrifugoWorker;
use RR\Centrifugo\Request;
use RR\Environment;
use RR\Http\HttpWorker;
use RR\Worker;

$env = Environment::fromGlobals();
$worker = Worker::create(env: $env);

if ($env->getMode() !== 'centrifuge') {
    $http = new HttpWorker($worker);
    while ($request = $http->waitRequest()) {
        $http->respond(404, 'Not Found', ['Content-Type' => ['text/plain']]);
    }
    return;
}

function handle(Request $r, CentrifugoApi $api): void
{
    switch ($r->type) {
        case 'connect':
            $name = trim((string)($r->data['name'] ?? ''));
            if ($name === '' || strlen($name) > 32) {
                $r->error(4001, 'a name of 1 to 32 bytes is required');
                return;
            }
            $r->respond(['user' => $name, 'info' => ['name' => $name]]);
            return;
        case 'subscribe':
            str_starts_with($r->channel, 'chat:')
                ? $r->respond()
                : $r->error(103, 'permission denied');
            return;
        case 'publish':
            $text = trim((string)($r->data['text'] ?? ''));
            if ($text === '' || strlen($text) > 500) {
                $r->error(107, 'a message is 1 to 500 bytes');
                return;
            }
            $r->respond(['data' => ['user' => $r->user, 'text' => $text]]);
            return;
        case 'rpc':
            if ($r->method === 'announce') {
                $api->publish('chat:lobby', json_encode(['user' => 'system',
                    'text' => (string)($r->data['text'] ?? '')], JSON_THROW_ON_ERROR));
                $r->respond(['data' => ['ok' => true]]);
                return;
            }
            $r->error(104, 'method not found');
            return;
        default:
            $r->error(108, 'not available');
    }
}

$centrifugo = new CentrifugoWorker($worker);
$api = CentrifugoApi::fromEnvironment();
while ($request = $centrifugo->waitRequest()) {
    try {
        handle($request, $api);
    } catch (\Throwable $e) {
        $worker->error((string)$e);
    }
}
