<?php

declare(strict_types=1);

namespace RR\Jobs\DTO;

use RR\Proto\Message;
use RR\Proto\Reader;
use RR\Proto\Wire;

/** jobs.v1.PushBatchRequest */
final class PushBatchRequest implements Message
{
    /** @param list<Job> $jobs */
    public function __construct(public array $jobs = [])
    {
    }

    public function encode(): string
    {
        $out = '';
        foreach ($this->jobs as $job) {
            $out .= Wire::message(1, $job);
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
                $m->jobs[] = Job::decode($r->bytes());
            } else {
                $r->skip($type);
            }
        }
        return $m;
    }
}
