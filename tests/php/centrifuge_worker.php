<?php

/**
 * centrifuge plugin test worker (RR_MODE=centrifuge).
 * connect: data.reject → error 4001 "go away"; data.ban → disconnect 4501 "banned";
 *   otherwise user = data.user (default "anon"), info {name}, data {hello}, server-side
 *   channels from data.server_subs.
 * subscribe: "forbidden*" → error 103; others allowed with chan_info {ch}.
 * publish: "readonly*" → error 103; "rewrite*" → data {rewritten: original}.
 * rpc: echo (data, user, type, meta), headers, mode, publish (via centrifuge.Publish),
 *   broadcast, presence, stats, kick (centrifuge.Disconnect), flood (count publications
 *   of size bytes), fail (error frame),
 *   crash (exit), slow (sleeps data.ms).
 * connect data.expire_in / subscribe "short*" channels: expire_at that many (1) seconds on;
 *   data.expiring_subs: server-side subscriptions expiring in a second.
 * refresh / subrefresh: user "crasher" → the worker exits; user "doomed" / channel
 *   "shortdoomed*" → expired; otherwise
 *   extended by an hour with info {refreshed: type}.
 */

declare(strict_types=1);

require __DIR__ . '/../../php/autoload.php';

use RR\Centrifugo\CentrifugoApi;
use RR\Centrifugo\CentrifugoWorker;
use RR\Centrifugo\Request;

$worker = CentrifugoWorker::create();

function rpc(Request $r): void
{
    $api = CentrifugoApi::fromEnvironment();
    $d = $r->data;
    switch ($r->method) {
        case 'echo':
            $r->respond(['data' => ['data' => $d, 'user' => $r->user, 'type' => $r->type,
                'meta' => $r->meta, 'client' => $r->client, 'transport' => $r->transport,
                'protocol' => $r->protocol]]);
            return;
        case 'headers':
            $r->respond(['data' => $r->headers]);
            return;
        case 'mode':
            $r->respond(['data' => ['mode' => getenv('RR_MODE')]]);
            return;
        case 'publish':
            $result = $api->publish($d['channel'], json_encode($d['message']), (bool)($d['skip'] ?? false));
            $r->respond(['data' => ['result' => bin2hex($result)]]);
            return;
        case 'broadcast':
            $api->broadcast($d['channels'], json_encode($d['message']));
            $r->respond(['data' => ['ok' => true]]);
            return;
        case 'presence':
            $r->respond(['data' => ['presence' => $api->presence($d['channel'])]]);
            return;
        case 'stats':
            $r->respond(['data' => $api->presenceStats($d['channel'])]);
            return;
        case 'kick':
            $api->disconnect($d['user'], '', (int)($d['code'] ?? 0), (string)($d['reason'] ?? ''));
            $r->respond(['data' => ['ok' => true]]);
            return;
        case 'api':
            try {
                $api->call($d['method'], hex2bin($d['body']));
                $r->respond(['data' => ['ok' => true]]);
            } catch (\Throwable $e) {
                $r->respond(['data' => ['error' => $e->getMessage(), 'code' => $e->getCode()]]);
            }
            return;
        case 'flood':
            $blob = str_repeat('x', (int)$d['size']);
            for ($i = 0; $i < (int)$d['count']; $i++) {
                $api->publish($d['channel'], json_encode(['i' => $i, 'blob' => $blob]));
            }
            $r->respond(['data' => ['sent' => (int)$d['count']]]);
            return;
        case 'fail':
            throw new \RuntimeException('rpc failed on purpose');
        case 'crash':
            exit(1);
        case 'slow':
            usleep((int)($d['ms'] ?? 100) * 1000);
            $r->respond(['data' => ['slept' => true]]);
            return;
        default:
            $r->error(104, 'method not found');
    }
}

while (($r = $worker->waitRequest()) !== null) {
    try {
        switch ($r->type) {
            case 'connect':
                if (!empty($r->data['reject'])) {
                    $r->error(4001, 'go away');
                } elseif (!empty($r->data['ban'])) {
                    $r->disconnect(4501, 'banned');
                } else {
                    $user = (string)($r->data['user'] ?? 'anon');
                    $r->respond(['user' => $user, 'info' => ['name' => $user],
                        'expire_at' => isset($r->data['expire_in']) ? time() + (int)$r->data['expire_in'] : 0,
                        'data' => ['hello' => $user, 'name' => $r->name],
                        'channels' => $r->data['server_subs'] ?? [], 'meta' => ['m' => $user],
                        'subs' => array_fill_keys($r->data['expiring_subs'] ?? [], ['expire_at' => time() + 1])]);
                }
                break;
            case 'subscribe':
                if (str_starts_with($r->channel, 'forbidden')) {
                    $r->error(103, 'permission denied');
                } else {
                    $r->respond(['info' => ['ch' => $r->channel], 'data' => ['welcome' => $r->channel],
                        'expire_at' => str_starts_with($r->channel, 'short') ? time() + 1 : 0]);
                }
                break;
            case 'publish':
                if (str_starts_with($r->channel, 'readonly')) {
                    $r->error(103, 'permission denied');
                } elseif (str_starts_with($r->channel, 'rewrite')) {
                    $r->respond(['data' => ['rewritten' => $r->data]]);
                } else {
                    $r->respond();
                }
                break;
            case 'rpc':
                rpc($r);
                break;
            case 'refresh':
            case 'subrefresh':
                if ($r->user === 'crasher') {
                    exit(1);  // a worker dying on a refresh request
                }
                if ($r->user === 'doomed' || str_starts_with($r->channel ?? '', 'shortdoomed')) {
                    $r->respond(['expired' => true]);
                } else {
                    $r->respond(['expire_at' => time() + 3600, 'info' => ['refreshed' => $r->type]]);
                }
                break;
            default:
                $r->error(108, 'not available');
        }
    } catch (\Throwable $e) {
        $worker->getWorker()->error($e->getMessage());
    }
}
