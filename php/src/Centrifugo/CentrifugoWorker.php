<?php

declare(strict_types=1);

namespace RR\Centrifugo;

use RR\Worker;

/**
 * A worker of the centrifuge plugin (RR_MODE=centrifuge), with roadrunner-php/centrifugo's
 * wire use: the context is JSON of the gRPC metadata plus `type`, the body a proxy request
 * in protobuf; replies are `<Method>Response` messages sent with an empty header.
 */
final class CentrifugoWorker
{
    public function __construct(private readonly Worker $worker)
    {
    }

    public static function create(): self
    {
        return new self(Worker::create());
    }

    /** The next request, or null when the server stops the worker. */
    public function waitRequest(): ?Request
    {
        $payload = $this->worker->waitPayload();
        if ($payload === null) {
            return null;
        }
        try {
            $headers = \json_decode($payload->header, true, 512, \JSON_THROW_ON_ERROR);
        } catch (\JsonException) {
            $headers = [];
        }
        $type = \is_array($headers) ? (string)($headers['type'][0] ?? 'unknown') : 'unknown';
        return Request::decode($this->worker, $type, \is_array($headers) ? $headers : [], $payload->body);
    }

    public function getWorker(): Worker
    {
        return $this->worker;
    }
}
