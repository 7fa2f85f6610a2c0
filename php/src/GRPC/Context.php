<?php

declare(strict_types=1);

namespace RR\GRPC;

/**
 * The call context: request metadata (name → list of values, plus `:peer.address`)
 * and the ResponseHeaders / ResponseTrailers objects of the call.
 */
final class Context
{
    /** @param array<string, mixed> $values */
    public function __construct(private array $values = [])
    {
    }

    public function getValue(string $key): mixed
    {
        return $this->values[$key] ?? null;
    }

    public function withValue(string $key, mixed $value): self
    {
        $ctx = clone $this;
        $ctx->values[$key] = $value;
        return $ctx;
    }

    /** @return array<string, mixed> */
    public function getValues(): array
    {
        return $this->values;
    }
}
