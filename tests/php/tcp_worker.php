<?php

/**
 * tcp plugin test worker. DATA commands (one line each):
 *   close → "bye" and WRITECLOSE;  crash → exit mid-event;  error → soft error frame;
 *   twice → WRITECLOSE then an error frame (the SDK README's catch block);
 *   silent → no reply at all;  hang → sleeps 10 minutes;  bad → an unknown command word;  uuid / pid / mode / ctx → facts;
 *   anything else is echoed back.
 * CONNECTED: server "greet" writes a greeting, others just read.
 * CLOSE: appended to $TCP_LOG; only server "replying" answers it (the README says no
 * answer is needed, and most apps send none).
 */

declare(strict_types=1);

require __DIR__ . '/../../php/autoload.php';

use RR\Tcp\TcpEvent;
use RR\Tcp\TcpResponse;
use RR\Tcp\TcpWorker;
use RR\Worker;

$worker = Worker::create();
$tcp = new TcpWorker($worker);
$log = getenv('TCP_LOG') ?: '';

while ($request = $tcp->waitRequest()) {
    $event = $request->getEvent();
    if ($event === TcpEvent::Connected) {
        if ($request->getServer() === 'greet') {
            $tcp->respond("hello " . $request->getRemoteAddress() . "\r\n");
        } else {
            $tcp->read();
        }
        continue;
    }
    if ($event === TcpEvent::Close) {
        if ($log !== '') {
            file_put_contents($log, "CLOSE " . $request->getConnectionUuid() . "\n", FILE_APPEND);
        }
        if ($request->getServer() === 'replying') {
            $tcp->close();
        }
        continue;
    }
    $body = $request->getBody();
    switch (rtrim($body, "\r\n")) {
        case 'close':
            $tcp->respond("bye\r\n", TcpResponse::RespondClose);
            break;
        case 'crash':
            exit(3);
        case 'error':
            $worker->error('boom');
            break;
        case 'twice':
            $tcp->respond("Something went wrong\r\n", TcpResponse::RespondClose);
            $worker->error('RuntimeException: failed');
            break;
        case 'silent':
            break;
        case 'hang':
            sleep(600);
            break;
        case 'bad':
            $worker->respond(new RR\Payload("ignored\r\n", 'write'));
            break;
        case 'uuid':
            $tcp->respond($request->getConnectionUuid() . "\r\n");
            break;
        case 'pid':
            $tcp->respond(getmypid() . "\r\n");
            break;
        case 'mode':
            $tcp->respond(getenv('RR_MODE') . "\r\n");
            break;
        case 'ctx':
            $tcp->respond(json_encode([
                'remote_addr' => $request->getRemoteAddress(),
                'server' => $request->getServer(),
                'event' => $event->value,
            ]) . "\r\n");
            break;
        default:
            $tcp->respond($body);
    }
}
