<?php

declare(strict_types=1);

namespace RR\Temporal;

final class ApplicationFailure extends TemporalFailure
{
    /** @param list<mixed> $details */
    public function __construct(
        string $message,
        public readonly string $type = '',
        public readonly bool $nonRetryable = false,
        public readonly array $details = [],
        ?\Throwable $previous = null,
    ) {
        parent::__construct($message, 0, $previous);
    }
}
