<?php

declare(strict_types=1);

namespace RR\Jobs\DTO;

use RR\Proto\Message;
use RR\Proto\Reader;
use RR\Proto\Wire;

/** jobs.v1.Options */
final class Options implements Message
{
    public function __construct(
        public int $priority = 0,
        public string $pipeline = '',
        public int $delay = 0,
        public bool $autoAck = false,
        public string $topic = '',
        public string $metadata = '',
        public int $offset = 0,
        public int $partition = 0,
    ) {
    }

    public function encode(): string
    {
        return Wire::int(1, $this->priority)
            . Wire::bytes(2, $this->pipeline)
            . Wire::int(3, $this->delay)
            . Wire::bool(6, $this->autoAck)
            . Wire::bytes(7, $this->topic)
            . Wire::bytes(8, $this->metadata)
            . Wire::int(9, $this->offset)
            . Wire::int(10, $this->partition);
    }

    public static function decode(string $data): static
    {
        $m = new static();
        $r = new Reader($data);
        while (!$r->eof()) {
            [$field, $type] = $r->tag();
            match (true) {
                $field === 1 && $type === Wire::VARINT => $m->priority = $r->varint(),
                $field === 2 && $type === Wire::LEN => $m->pipeline = $r->bytes(),
                $field === 3 && $type === Wire::VARINT => $m->delay = $r->varint(),
                $field === 6 && $type === Wire::VARINT => $m->autoAck = $r->varint() !== 0,
                $field === 7 && $type === Wire::LEN => $m->topic = $r->bytes(),
                $field === 8 && $type === Wire::LEN => $m->metadata = $r->bytes(),
                $field === 9 && $type === Wire::VARINT => $m->offset = $r->varint(),
                $field === 10 && $type === Wire::VARINT => $m->partition = self::int32($r->varint()),
                default => $r->skip($type),
            };
        }
        return $m;
    }

    private static function int32(int $v): int
    {
        $v &= 0xFFFFFFFF;
        return $v > 0x7FFFFFFF ? $v - 0x100000000 : $v;
    }
}
