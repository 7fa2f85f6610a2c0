<?php

declare(strict_types=1);

namespace RR\Jobs;

/** Declare map of a memory pipeline, as the SDK's MemoryCreateInfo builds it. */
final class MemoryCreateInfo
{
    public function __construct(
        public readonly string $name,
        public readonly int $priority = 10,
        public readonly int $prefetch = 10,
    ) {
    }

    /** @return array<string, mixed> */
    public function toArray(): array
    {
        return ['name' => $this->name, 'driver' => 'memory', 'priority' => $this->priority, 'prefetch' => $this->prefetch];
    }
}
