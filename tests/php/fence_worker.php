<?php

/**
 * Pool fence tests: the body says how to answer.
 *   none → nothing;  twice → a reply and an error frame;  error → an error frame;
 *   reply-exit → a reply, then exit before the barrier;  sleep → 3 s then echo;
 *   stream → a STREAM chunk;  crash → exits mid-request;  anything else → echo with the pid.
 */

declare(strict_types=1);

require __DIR__ . '/../../php/autoload.php';

use RR\Payload;
use RR\Worker;

$worker = Worker::create();
while ($p = $worker->waitPayload()) {
    switch ($p->body) {
        case 'none':
            break;
        case 'twice':
            $worker->respond(new Payload('first', 'ctx'));
            $worker->error('second');
            break;
        case 'error':
            $worker->error('boom');
            break;
        case 'reply-exit':
            $worker->respond(new Payload('last words'));
            exit(0);
        case 'crash':
            exit(2);
        case 'sleep':
            sleep(3);
            $worker->respond(new Payload('slept'));
            break;
        case 'stream':
            $worker->respond(new Payload('chunk', '', false));
            break;
        default:
            $worker->respond(new Payload($p->body . ':' . getmypid()));
    }
}
