<?php
// The tcp plugin's smallest worker: read on CONNECTED, echo every DATA, no reply to CLOSE
// (as the spiral/roadrunner-tcp README does).
require __DIR__ . '/../../php/autoload.php';

$tcp = new RR\Tcp\TcpWorker(RR\Worker::create());
while ($request = $tcp->waitRequest()) {
    match ($request->getEvent()) {
        RR\Tcp\TcpEvent::Connected => $tcp->read(),
        RR\Tcp\TcpEvent::Data => $tcp->respond($request->getBody()),
        default => null,
    };
}
