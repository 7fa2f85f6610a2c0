<?php

declare(strict_types=1);

namespace RR\KV\DTO;

use RR\Proto\Message;
use RR\Proto\Reader;
use RR\Proto\Wire;

/** kv.v1.Request */
final class Request implements Message
{
    /** @param list<Item> $items */
    public function __construct(public string $storage = '', public array $items = [])
    {
    }

    public function encode(): string
    {
        $out = Wire::bytes(1, $this->storage);
        foreach ($this->items as $item) {
            $out .= Wire::message(2, $item);
        }
        return $out;
    }

    public static function decode(string $data): static
    {
        $m = new static();
        $r = new Reader($data);
        while (!$r->eof()) {
            [$field, $type] = $r->tag();
            if ($field === 1 && $type === Wire::LEN) {
                $m->storage = $r->bytes();
            } elseif ($field === 2 && $type === Wire::LEN) {
                $m->items[] = Item::decode($r->bytes());
            } else {
                $r->skip($type);
            }
        }
        return $m;
    }
}
