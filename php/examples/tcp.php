<?php

/**
 * A line-based TCP service for the tcp plugin (RR_MODE=tcp): greets on connect, answers
 * `time`, `whoami` and `quit`, echoes anything else. No reply to CLOSE is needed.
 *
 *   tcp:
 *     servers:
 *       lines: { addr: 127.0.0.1:7777 }
 *     pool: { num_workers: 2, command: "php php/examples/tcp.php" }
 *
 * then `socat - TCP:127.0.0.1:7777,crlf`.
 */

declare(strict_types=1);

require __DIR__ . '/../autoload.php';

use RR\Tcp\TcpEvent;
use RR\Tcp\TcpResponse;
use RR\Tcp\TcpWorker;
use RR\Worker;

$worker = Worker::create();
$tcp = new TcpWorker($worker);

while ($request = $tcp->waitRequest()) {
    try {
        switch ($request->getEvent()) {
            case TcpEvent::Connected:
                $tcp->respond("hello {$request->getRemoteAddress()}, this is {$request->getServer()}\r\n");
                break;
            case TcpEvent::Data:
                $line = rtrim($request->getBody(), "\r\n");
                match ($line) {
                    'time' => $tcp->respond(date(DATE_ATOM) . "\r\n"),
                    'whoami' => $tcp->respond($request->getConnectionUuid() . "\r\n"),
                    'quit' => $tcp->respond("bye\r\n", TcpResponse::RespondClose),
                    default => $tcp->respond($request->getBody()),
                };
                break;
            case TcpEvent::Close:
                fwrite(STDERR, "connection {$request->getConnectionUuid()} closed\n");
                break;
            default:
                $tcp->close();
        }
    } catch (\Throwable $e) {
        // the SDK README's pattern: answer and report; rr discards the second frame
        $tcp->respond("Something went wrong\r\n", TcpResponse::RespondClose);
        $worker->error((string)$e);
    }
}
