<?php

declare(strict_types=1);

namespace RR\Lock\DTO;

use RR\Proto\Message;
use RR\Proto\Reader;
use RR\Proto\Wire;

/**
 * lock.v1beta1.Request: resource = 1, id = 2, optional int64 ttl = 3, optional int64
 * wait = 4 (microseconds). A null ttl/wait is absent from the wire; 0 is sent as 0.
 */
final class Request implements Message
{
    public function __construct(
        public string $resource = '',
        public string $id = '',
        public ?int $ttl = null,
        public ?int $wait = null,
    ) {
    }

    public function encode(): string
    {
        return Wire::bytes(1, $this->resource) . Wire::bytes(2, $this->id)
            . Wire::optionalInt(3, $this->ttl) . Wire::optionalInt(4, $this->wait);
    }

    public static function decode(string $data): static
    {
        $m = new static();
        $r = new Reader($data);
        while (!$r->eof()) {
            [$field, $type] = $r->tag();
            match (true) {
                $field === 1 && $type === Wire::LEN => $m->resource = $r->bytes(),
                $field === 2 && $type === Wire::LEN => $m->id = $r->bytes(),
                $field === 3 && $type === Wire::VARINT => $m->ttl = $r->varint(),
                $field === 4 && $type === Wire::VARINT => $m->wait = $r->varint(),
                default => $r->skip($type),
            };
        }
        return $m;
    }
}
