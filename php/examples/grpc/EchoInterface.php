<?php

declare(strict_types=1);

namespace Example\Echo;

use RR\GRPC\Context;

/**
 * What protoc-gen-php-grpc would generate for echo.proto.
 */
interface EchoInterface
{
    public const NAME = 'rr.example.echo.v1.Echo';

    public function Ping(Context $ctx, Message $in): Message;
}
