<?php

declare(strict_types=1);

namespace RR\Tcp;

use RR\Payload;
use RR\Worker;

/**
 * A worker of the tcp plugin (RR_MODE=tcp), with spiral/roadrunner-tcp's API and wire use:
 * the request context is JSON {remote_addr, server, uuid, event}, the reply context is a
 * command word (TcpResponse) sent with frame flags 0.
 *
 * Events of one connection may reach different workers; keep per-connection state
 * outside PHP (KV, a database), keyed by getConnectionUuid().
 */
class TcpWorker
{
    public function __construct(private readonly Worker $worker)
    {
    }

    public function getWorker(): Worker
    {
        return $this->worker;
    }

    /**
     * The next event, or null when the server stops the worker. Like the SDK, a stop
     * answers with one last CLOSE frame, which the server ignores.
     */
    public function waitRequest(): ?Request
    {
        $payload = $this->worker->waitPayload();
        if ($payload === null) {
            $this->close();
            return null;
        }
        $context = \json_decode($payload->header, true, 512, \JSON_THROW_ON_ERROR);

        return new Request(
            remoteAddr: $context['remote_addr'],
            event: TcpEvent::tryFrom($context['event'] ?? 'UNKNOWN') ?? TcpEvent::Unknown,
            body: $payload->body,
            connectionUuid: $context['uuid'],
            server: $context['server'],
        );
    }

    public function respond(string $body, TcpResponse $response = TcpResponse::Respond): void
    {
        $this->worker->respond(new Payload($body, $response->value));
    }

    /** Write nothing and read the next message. */
    public function read(): void
    {
        $this->respond('', TcpResponse::Read);
    }

    public function close(): void
    {
        $this->respond('', TcpResponse::Close);
    }
}
