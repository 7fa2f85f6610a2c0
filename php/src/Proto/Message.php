<?php

declare(strict_types=1);

namespace RR\Proto;

/**
 * A protobuf message with a hand-written codec (no protobuf extension needed).
 */
interface Message
{
    public function encode(): string;

    public static function decode(string $data): static;
}
