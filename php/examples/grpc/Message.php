<?php

declare(strict_types=1);

namespace Example\Echo;

use RR\Proto\Reader;
use RR\Proto\Wire;

/**
 * rr.example.echo.v1.Message {string msg = 1}, hand-coded (protoc --php_out would
 * generate a google/protobuf class instead; the Server accepts both).
 */
final class Message implements \RR\Proto\Message
{
    public function __construct(public string $msg = '')
    {
    }

    public function encode(): string
    {
        return Wire::bytes(1, $this->msg);
    }

    public static function decode(string $data): static
    {
        $m = new static();
        $r = new Reader($data);
        while (!$r->eof()) {
            [$field, $type] = $r->tag();
            if ($field === 1 && $type === Wire::LEN) {
                $m->msg = $r->bytes();
            } else {
                $r->skip($type);
            }
        }
        return $m;
    }
}
