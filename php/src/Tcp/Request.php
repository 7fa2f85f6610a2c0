<?php

declare(strict_types=1);

namespace RR\Tcp;

/** One connection event: who, which server, which connection, and the bytes read. */
final class Request
{
    public function __construct(
        private readonly string $remoteAddr,
        private readonly TcpEvent $event,
        private readonly string $body,
        private readonly string $connectionUuid,
        private readonly string $server,
    ) {
    }

    public function getRemoteAddress(): string
    {
        return $this->remoteAddr;
    }

    public function getEvent(): TcpEvent
    {
        return $this->event;
    }

    /** For DATA: everything read up to and including the delimiter. */
    public function getBody(): string
    {
        return $this->body;
    }

    public function getConnectionUuid(): string
    {
        return $this->connectionUuid;
    }

    public function getServer(): string
    {
        return $this->server;
    }
}
