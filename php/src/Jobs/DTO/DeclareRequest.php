<?php

declare(strict_types=1);

namespace RR\Jobs\DTO;

use RR\Proto\Message;
use RR\Proto\Reader;
use RR\Proto\Wire;

/** jobs.v1.DeclareRequest: map<string, string> pipeline = 1 */
final class DeclareRequest implements Message
{
    /** @param array<string, string> $pipeline */
    public function __construct(public array $pipeline = [])
    {
    }

    public function encode(): string
    {
        return Wire::stringMap(1, $this->pipeline);
    }

    public static function decode(string $data): static
    {
        $m = new static();
        $r = new Reader($data);
        while (!$r->eof()) {
            [$field, $type] = $r->tag();
            if ($field === 1 && $type === Wire::LEN) {
                [$key, $value] = Reader::mapEntry($r->bytes());
                $m->pipeline[$key] = $value;
            } else {
                $r->skip($type);
            }
        }
        return $m;
    }
}
