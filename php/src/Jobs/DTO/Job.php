<?php

declare(strict_types=1);

namespace RR\Jobs\DTO;

use RR\Proto\Message;
use RR\Proto\Reader;
use RR\Proto\Wire;

/** jobs.v1.Job; headers is map<string, HeaderValue{repeated string value = 1}>. */
final class Job implements Message
{
    /**
     * @param array<string, list<string>> $headers
     */
    public function __construct(
        public string $job = '',
        public string $id = '',
        public string $payload = '',
        public array $headers = [],
        public ?Options $options = null,
    ) {
    }

    public function encode(): string
    {
        $out = Wire::bytes(1, $this->job) . Wire::bytes(2, $this->id) . Wire::bytes(3, $this->payload);
        foreach ($this->headers as $name => $values) {
            if ($values === []) {
                continue; // the SDK never sends a header without values
            }
            $headerValue = Wire::repeatedString(1, \array_values($values));
            $out .= Wire::bytes(4, Wire::bytes(1, (string)$name) . Wire::bytes(2, $headerValue, true), true);
        }
        if ($this->options !== null) {
            $out .= Wire::message(5, $this->options);
        }
        return $out;
    }

    public static function decode(string $data): static
    {
        $m = new static();
        $r = new Reader($data);
        while (!$r->eof()) {
            [$field, $type] = $r->tag();
            if ($type !== Wire::LEN) {
                $r->skip($type);
                continue;
            }
            match ($field) {
                1 => $m->job = $r->bytes(),
                2 => $m->id = $r->bytes(),
                3 => $m->payload = $r->bytes(),
                4 => $m->addHeader($r->bytes()),
                5 => $m->options = Options::decode($r->bytes()),
                default => $r->skip($type),
            };
        }
        return $m;
    }

    private function addHeader(string $entry): void
    {
        [$name, $headerValue] = Reader::mapEntry($entry);
        $values = [];
        $r = new Reader($headerValue);
        while (!$r->eof()) {
            [$field, $type] = $r->tag();
            if ($field === 1 && $type === Wire::LEN) {
                $values[] = $r->bytes();
            } else {
                $r->skip($type);
            }
        }
        $this->headers[$name] = $values;
    }
}
