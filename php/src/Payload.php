<?php

declare(strict_types=1);

namespace RR;

/**
 * What travels in a worker payload frame: header (the "context") and body.
 * eos=false marks a chunk of a streamed response (STREAM bit on the wire).
 */
final class Payload
{
    public function __construct(
        public readonly string $body = '',
        public readonly string $header = '',
        public readonly bool $eos = true,
    ) {
    }
}
