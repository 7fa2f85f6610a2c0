<?php

declare(strict_types=1);

namespace RR\Lock\DTO;

use RR\Proto\Message;
use RR\Proto\Reader;
use RR\Proto\Wire;

/** lock.v1beta1.Response: bool ok = 1 (false is zero bytes). */
final class Response implements Message
{
    public function __construct(public bool $ok = false)
    {
    }

    public function encode(): string
    {
        return Wire::bool(1, $this->ok);
    }

    public static function decode(string $data): static
    {
        $m = new static();
        $r = new Reader($data);
        while (!$r->eof()) {
            [$field, $type] = $r->tag();
            if ($field === 1 && $type === Wire::VARINT) {
                $m->ok = $r->varint() !== 0;
            } else {
                $r->skip($type);
            }
        }
        return $m;
    }
}
