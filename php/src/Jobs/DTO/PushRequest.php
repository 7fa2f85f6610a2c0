<?php

declare(strict_types=1);

namespace RR\Jobs\DTO;

use RR\Proto\Message;
use RR\Proto\Reader;
use RR\Proto\Wire;

/** jobs.v1.PushRequest */
final class PushRequest implements Message
{
    public function __construct(public ?Job $job = null)
    {
    }

    public function encode(): string
    {
        return $this->job === null ? '' : Wire::message(1, $this->job);
    }

    public static function decode(string $data): static
    {
        $m = new static();
        $r = new Reader($data);
        while (!$r->eof()) {
            [$field, $type] = $r->tag();
            if ($field === 1 && $type === Wire::LEN) {
                $m->job = Job::decode($r->bytes());
            } else {
                $r->skip($type);
            }
        }
        return $m;
    }
}
