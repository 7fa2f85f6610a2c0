<?php

declare(strict_types=1);

namespace RR\Temporal;

final class CanceledFailure extends TemporalFailure
{
    public function __construct(string $message = '', ?\Throwable $previous = null)
    {
        parent::__construct($message, 0, $previous);
    }
}
