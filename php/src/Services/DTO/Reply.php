<?php

declare(strict_types=1);

namespace RR\Services\DTO;

use RR\Proto\Message;
use RR\Proto\Reader;
use RR\Proto\Wire;

/**
 * The replies of service.*: Response {ok = 2}, List {services = 1} and
 * Statuses {repeated Status status = 1}, read into one shape.
 */
final class Reply implements Message
{
    public bool $ok = false;
    /** @var list<string> */
    public array $services = [];
    /** @var list<array{cpu_percent: float, pid: int, memory_usage: int, command: string, error: ?array{code: int, message: string, details: list<string>}}> */
    public array $statuses = [];

    public function encode(): string
    {
        throw new \LogicException('replies are only received');
    }

    /** Response or List: field 1 is a string list, field 2 the ok flag. */
    public static function decode(string $data): static
    {
        $m = new static();
        $r = new Reader($data);
        while (!$r->eof()) {
            [$field, $type] = $r->tag();
            if ($field === 1 && $type === Wire::LEN) {
                $m->services[] = $r->bytes();
            } elseif ($field === 2 && $type === Wire::VARINT) {
                $m->ok = $r->varint() !== 0;
            } else {
                $r->skip($type);
            }
        }
        return $m;
    }

    public static function decodeStatuses(string $data): self
    {
        $m = new self();
        $r = new Reader($data);
        while (!$r->eof()) {
            [$field, $type] = $r->tag();
            if ($field === 1 && $type === Wire::LEN) {
                $m->statuses[] = self::status($r->bytes());
            } else {
                $r->skip($type);
            }
        }
        return $m;
    }

    /** service.v1.Status; `error` is common.v1.Status {code, message, details} or null. */
    private static function status(string $data): array
    {
        $s = ['cpu_percent' => 0.0, 'pid' => 0, 'memory_usage' => 0, 'command' => '', 'error' => null];
        $r = new Reader($data);
        while (!$r->eof()) {
            [$field, $type] = $r->tag();
            match (true) {
                $field === 1 && $type === Wire::FIXED32 => $s['cpu_percent'] = $r->float32(),
                $field === 2 && $type === Wire::VARINT => $s['pid'] = $r->varint(),
                $field === 3 && $type === Wire::VARINT => $s['memory_usage'] = $r->varint(),
                $field === 4 && $type === Wire::LEN => $s['command'] = $r->bytes(),
                $field === 5 && $type === Wire::LEN => $s['error'] = self::error($r->bytes()),
                default => $r->skip($type),
            };
        }
        return $s;
    }

    private static function error(string $data): array
    {
        $e = ['code' => 0, 'message' => '', 'details' => []];
        $r = new Reader($data);
        while (!$r->eof()) {
            [$field, $type] = $r->tag();
            match (true) {
                $field === 1 && $type === Wire::VARINT => $e['code'] = $r->varint(),
                $field === 2 && $type === Wire::LEN => $e['message'] = $r->bytes(),
                $field === 3 && $type === Wire::LEN => $e['details'][] = $r->bytes(),
                default => $r->skip($type),
            };
        }
        return $e;
    }
}
