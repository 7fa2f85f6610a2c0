<?php

declare(strict_types=1);

namespace RR\KV\DTO;

use RR\Proto\Message;
use RR\Proto\Reader;
use RR\Proto\Wire;

/** kv.v1.Item: timeout is an absolute RFC 3339 time, "" for none. */
final class Item implements Message
{
    public function __construct(
        public string $key = '',
        public string $value = '',
        public string $timeout = '',
    ) {
    }

    public function encode(): string
    {
        return Wire::bytes(1, $this->key) . Wire::bytes(2, $this->value) . Wire::bytes(3, $this->timeout);
    }

    public static function decode(string $data): static
    {
        $m = new static();
        $r = new Reader($data);
        while (!$r->eof()) {
            [$field, $type] = $r->tag();
            if ($type !== Wire::LEN) {
                $r->skip($type);
                continue;
            }
            match ($field) {
                1 => $m->key = $r->bytes(),
                2 => $m->value = $r->bytes(),
                3 => $m->timeout = $r->bytes(),
                default => $r->skip($type),
            };
        }
        return $m;
    }
}
