<?php

declare(strict_types=1);

namespace RR\GRPC;

/**
 * Response metadata set by a method (`$ctx->getValue(ResponseHeaders::class)->set(…)`);
 * one value per name, setting a name again replaces it.
 */
class ResponseHeaders implements \Countable
{
    /** @var array<string, string> */
    private array $headers = [];

    public function set(string $name, string $value): void
    {
        $this->headers[$name] = $value;
    }

    public function get(string $name): ?string
    {
        return $this->headers[$name] ?? null;
    }

    /** @return array<string, string> */
    public function all(): array
    {
        return $this->headers;
    }

    public function count(): int
    {
        return \count($this->headers);
    }

    /** JSON object text; `{}` when empty (never `[]`). */
    public function packHeaders(): string
    {
        return $this->headers === [] ? '{}' : \json_encode($this->headers, \JSON_THROW_ON_ERROR);
    }
}
