<?php

declare(strict_types=1);

namespace RR\Temporal;

/**
 * What workflow code yields: a command for the server (resumed with its result), or a
 * local wait for a condition (`await`).
 */
final class Request
{
    /**
     * @param array<string, mixed> $options
     * @param list<mixed> $args
     */
    public function __construct(
        public readonly string $command,
        public readonly array $options = [],
        public readonly array $args = [],
        public readonly ?\Closure $condition = null,
    ) {
    }
}
