<?php

declare(strict_types=1);

namespace RR\Jobs\DTO;

use RR\Proto\Message;
use RR\Proto\Reader;
use RR\Proto\Wire;

/** jobs.v1.Stat */
final class Stat implements Message
{
    public function __construct(
        public string $pipeline = '',
        public string $driver = '',
        public string $queue = '',
        public int $active = 0,
        public int $delayed = 0,
        public int $reserved = 0,
        public bool $ready = false,
        public int $priority = 0,
    ) {
    }

    public function encode(): string
    {
        return Wire::bytes(1, $this->pipeline)
            . Wire::bytes(2, $this->driver)
            . Wire::bytes(3, $this->queue)
            . Wire::int(4, $this->active)
            . Wire::int(5, $this->delayed)
            . Wire::int(6, $this->reserved)
            . Wire::bool(7, $this->ready)
            . Wire::int(8, $this->priority);
    }

    public static function decode(string $data): static
    {
        $m = new static();
        $r = new Reader($data);
        while (!$r->eof()) {
            [$field, $type] = $r->tag();
            match (true) {
                $field === 1 && $type === Wire::LEN => $m->pipeline = $r->bytes(),
                $field === 2 && $type === Wire::LEN => $m->driver = $r->bytes(),
                $field === 3 && $type === Wire::LEN => $m->queue = $r->bytes(),
                $field === 4 && $type === Wire::VARINT => $m->active = $r->varint(),
                $field === 5 && $type === Wire::VARINT => $m->delayed = $r->varint(),
                $field === 6 && $type === Wire::VARINT => $m->reserved = $r->varint(),
                $field === 7 && $type === Wire::VARINT => $m->ready = $r->varint() !== 0,
                $field === 8 && $type === Wire::VARINT => $m->priority = $r->varint(),
                default => $r->skip($type),
            };
        }
        return $m;
    }
}
