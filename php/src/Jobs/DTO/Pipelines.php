<?php

declare(strict_types=1);

namespace RR\Jobs\DTO;

use RR\Proto\Message;
use RR\Proto\Reader;
use RR\Proto\Wire;

/** jobs.v1.Pipelines */
final class Pipelines implements Message
{
    /** @param list<string> $pipelines */
    public function __construct(public array $pipelines = [])
    {
    }

    public function encode(): string
    {
        return Wire::repeatedString(1, $this->pipelines);
    }

    public static function decode(string $data): static
    {
        $m = new static();
        $r = new Reader($data);
        while (!$r->eof()) {
            [$field, $type] = $r->tag();
            if ($field === 1 && $type === Wire::LEN) {
                $m->pipelines[] = $r->bytes();
            } else {
                $r->skip($type);
            }
        }
        return $m;
    }
}
