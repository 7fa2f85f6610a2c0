<?php

declare(strict_types=1);

namespace RR\Logger\DTO;

use RR\Proto\Message;
use RR\Proto\Reader;
use RR\Proto\Wire;

/** applogger.v1.LogEntry: message = 1, repeated LogAttrs{key = 1, value = 2} log_attrs = 2. */
final class LogEntry implements Message
{
    /** @param array<string, string> $attrs in order; keys are unique by construction */
    public function __construct(public string $message = '', public array $attrs = [])
    {
    }

    public function encode(): string
    {
        $out = Wire::bytes(1, $this->message);
        foreach ($this->attrs as $key => $value) {
            $out .= Wire::bytes(2, Wire::bytes(1, (string)$key) . Wire::bytes(2, $value), true);
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
                $m->message = $r->bytes();
            } elseif ($field === 2 && $type === Wire::LEN) {
                [$key, $value] = Reader::mapEntry($r->bytes());
                $m->attrs[$key] = $value;
            } else {
                $r->skip($type);
            }
        }
        return $m;
    }
}
