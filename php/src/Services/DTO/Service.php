<?php

declare(strict_types=1);

namespace RR\Services\DTO;

use RR\Proto\Message;
use RR\Proto\Wire;

/** service.v1.Service: the argument of every call but Create. */
final class Service implements Message
{
    public function __construct(public string $name = '')
    {
    }

    public function encode(): string
    {
        return Wire::bytes(1, $this->name);
    }

    public static function decode(string $data): static
    {
        throw new \LogicException('Service is only sent');
    }
}
