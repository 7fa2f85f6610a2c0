<?php

declare(strict_types=1);

namespace RR\KV\DTO;

use RR\Proto\Message;
use RR\Proto\Reader;
use RR\Proto\Wire;

/** kv.v1.Response */
final class Response implements Message
{
    /** @param list<Item> $items */
    public function __construct(public array $items = [])
    {
    }

    public function encode(): string
    {
        $out = '';
        foreach ($this->items as $item) {
            $out .= Wire::message(1, $item);
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
                $m->items[] = Item::decode($r->bytes());
            } else {
                $r->skip($type);
            }
        }
        return $m;
    }
}
