<?php

declare(strict_types=1);

namespace RR\Jobs\DTO;

use RR\Proto\Message;
use RR\Proto\Reader;
use RR\Proto\Wire;

/** jobs.v1.Stats */
final class Stats implements Message
{
    /** @param list<Stat> $stats */
    public function __construct(public array $stats = [])
    {
    }

    public function encode(): string
    {
        $out = '';
        foreach ($this->stats as $stat) {
            $out .= Wire::message(1, $stat);
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
                $m->stats[] = Stat::decode($r->bytes());
            } else {
                $r->skip($type);
            }
        }
        return $m;
    }
}
