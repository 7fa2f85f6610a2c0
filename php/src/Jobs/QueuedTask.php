<?php

declare(strict_types=1);

namespace RR\Jobs;

/** A task the server accepted; the id was generated client-side (UUIDv4). */
final class QueuedTask
{
    /** @param array<string, list<string>> $headers */
    public function __construct(
        private readonly string $id,
        private readonly string $queue,
        private readonly string $name,
        private readonly string $payload,
        private readonly array $headers,
    ) {
    }

    public function getId(): string
    {
        return $this->id;
    }

    public function getQueue(): string
    {
        return $this->queue;
    }

    public function getName(): string
    {
        return $this->name;
    }

    public function getPayload(): string
    {
        return $this->payload;
    }

    /** @return array<string, list<string>> */
    public function getHeaders(): array
    {
        return $this->headers;
    }
}
