<?php

/**
 * gRPC example: `grpc: {listen: tcp://127.0.0.1:9001, proto: [php/examples/grpc/echo.proto]}`
 * with this script as the command. Ping answers "pong: <msg>" and echoes the
 * x-request-id metadata as a response header.
 */

declare(strict_types=1);

require __DIR__ . '/../../autoload.php';
require __DIR__ . '/EchoInterface.php';
require __DIR__ . '/Message.php';

use Example\Echo\EchoInterface;
use Example\Echo\Message;
use RR\GRPC\Context;
use RR\GRPC\ResponseHeaders;
use RR\GRPC\Server;

final class EchoService implements EchoInterface
{
    public function Ping(Context $ctx, Message $in): Message
    {
        $id = $ctx->getValue('x-request-id')[0] ?? null;
        if ($id !== null) {
            $ctx->getValue(ResponseHeaders::class)->set('x-request-id', $id);
        }
        return new Message('pong: ' . $in->msg);
    }
}

$server = new Server();
$server->registerService(EchoInterface::class, new EchoService());
$server->serve();
