<?php

declare(strict_types=1);

namespace RR\Temporal;

use RR\Proto\Reader;
use RR\Proto\Wire;

/**
 * temporal.v1.Frame / Message and the Temporal Payload, Payloads, Header and Failure
 * messages, encoded by hand (the real SDK uses roadrunner-php/roadrunner-api-dto).
 *
 * A message is an array: id, command, options (JSON text), payloads (list of payload
 * arrays or null), header (raw Header bytes), failure (a failure array or null),
 * run_id, task_queue, tick_time, replay, history_length, history_size,
 * continue_as_new_suggested. A payload is ['metadata' => [k => v], 'data' => bytes].
 */
final class Codec
{
    /** @return list<array<string, mixed>> */
    public static function decodeFrame(string $data): array
    {
        $out = [];
        $r = new Reader($data);
        while (!$r->eof()) {
            [$field, $type] = $r->tag();
            if ($field === 1 && $type === Wire::LEN) {
                $out[] = self::decodeMessage($r->bytes());
            } else {
                $r->skip($type);
            }
        }
        return $out;
    }

    /** @param list<array<string, mixed>> $messages */
    public static function encodeFrame(array $messages): string
    {
        $out = '';
        foreach ($messages as $m) {
            $out .= Wire::bytes(1, self::encodeMessage($m), true);
        }
        return $out;
    }

    /** @return array<string, mixed> */
    public static function decodeMessage(string $data): array
    {
        $m = ['id' => 0, 'command' => '', 'options' => '', 'payloads' => null, 'header' => '',
              'failure' => null, 'history_length' => 0, 'run_id' => '', 'task_queue' => '',
              'tick_time' => '', 'replay' => false, 'continue_as_new_suggested' => false,
              'history_size' => 0];
        $r = new Reader($data);
        while (!$r->eof()) {
            [$f, $t] = $r->tag();
            match (true) {
                $f === 1 && $t === Wire::VARINT => $m['id'] = $r->varint(),
                $f === 2 && $t === Wire::LEN => $m['command'] = $r->bytes(),
                $f === 3 && $t === Wire::LEN => $m['options'] = $r->bytes(),
                $f === 4 && $t === Wire::LEN => $m['failure'] = self::decodeFailure($r->bytes()),
                $f === 5 && $t === Wire::LEN => $m['payloads'] = self::decodePayloads($r->bytes()),
                $f === 6 && $t === Wire::LEN => $m['header'] = $r->bytes(),
                $f === 7 && $t === Wire::VARINT => $m['history_length'] = $r->varint(),
                $f === 8 && $t === Wire::LEN => $m['run_id'] = $r->bytes(),
                $f === 9 && $t === Wire::LEN => $m['task_queue'] = $r->bytes(),
                $f === 10 && $t === Wire::LEN => $m['tick_time'] = $r->bytes(),
                $f === 11 && $t === Wire::VARINT => $m['replay'] = $r->varint() !== 0,
                $f === 12 && $t === Wire::VARINT => $m['continue_as_new_suggested'] = $r->varint() !== 0,
                $f === 13 && $t === Wire::VARINT => $m['history_size'] = $r->varint(),
                default => $r->skip($t),
            };
        }
        return $m;
    }

    /** @param array<string, mixed> $m */
    public static function encodeMessage(array $m): string
    {
        $out = Wire::int(1, (int)($m['id'] ?? 0))
            . Wire::bytes(2, (string)($m['command'] ?? ''))
            . Wire::bytes(3, (string)($m['options'] ?? ''));
        if (isset($m['failure'])) {
            $out .= Wire::bytes(4, self::encodeFailure($m['failure']), true);
        }
        if (isset($m['payloads'])) {
            $out .= Wire::bytes(5, self::encodePayloads($m['payloads']), true);
        }
        if (($m['header'] ?? '') !== '') {
            $out .= Wire::bytes(6, $m['header'], true);
        }
        return $out;
    }

    /** @return list<array{metadata: array<string, string>, data: string}> */
    public static function decodePayloads(string $data): array
    {
        $out = [];
        $r = new Reader($data);
        while (!$r->eof()) {
            [$f, $t] = $r->tag();
            if ($f === 1 && $t === Wire::LEN) {
                $out[] = self::decodePayload($r->bytes());
            } else {
                $r->skip($t);
            }
        }
        return $out;
    }

    /** @param list<array{metadata: array<string, string>, data: string}> $payloads */
    public static function encodePayloads(array $payloads): string
    {
        $out = '';
        foreach ($payloads as $p) {
            $out .= Wire::bytes(1, self::encodePayload($p), true);
        }
        return $out;
    }

    /** @return array{metadata: array<string, string>, data: string} */
    public static function decodePayload(string $data): array
    {
        $p = ['metadata' => [], 'data' => ''];
        $r = new Reader($data);
        while (!$r->eof()) {
            [$f, $t] = $r->tag();
            if ($f === 1 && $t === Wire::LEN) {
                [$k, $v] = Reader::mapEntry($r->bytes());
                $p['metadata'][$k] = $v;
            } elseif ($f === 2 && $t === Wire::LEN) {
                $p['data'] = $r->bytes();
            } else {
                $r->skip($t);
            }
        }
        return $p;
    }

    /** @param array{metadata: array<string, string>, data: string} $p */
    public static function encodePayload(array $p): string
    {
        return Wire::stringMap(1, $p['metadata']) . Wire::bytes(2, $p['data']);
    }

    /**
     * A Temporal Failure as an array: message, source, stack_trace, cause (array|null),
     * info (the failure_info field number, 0 = none), type and non_retryable
     * (application info), details (payload list), raw (the bytes it was decoded from).
     *
     * @return array<string, mixed>
     */
    public static function decodeFailure(string $data): array
    {
        $f = ['message' => '', 'source' => '', 'stack_trace' => '', 'cause' => null, 'info' => 0,
              'type' => '', 'non_retryable' => false, 'details' => [], 'raw' => $data];
        $r = new Reader($data);
        while (!$r->eof()) {
            [$n, $t] = $r->tag();
            if ($t !== Wire::LEN) {
                $r->skip($t);
                continue;
            }
            $v = $r->bytes();
            match (true) {
                $n === 1 => $f['message'] = $v,
                $n === 2 => $f['source'] = $v,
                $n === 3 => $f['stack_trace'] = $v,
                $n === 4 => $f['cause'] = self::decodeFailure($v),
                $n >= 5 && $n <= 14 => self::decodeInfo($f, $n, $v),
                default => null,
            };
        }
        return $f;
    }

    /** @param array<string, mixed> $f */
    private static function decodeInfo(array &$f, int $n, string $v): void
    {
        $f['info'] = $n;
        $r = new Reader($v);
        while (!$r->eof()) {
            [$k, $t] = $r->tag();
            if ($n === 5 && $k === 1 && $t === Wire::LEN) {
                $f['type'] = $r->bytes();
            } elseif ($n === 5 && $k === 2 && $t === Wire::VARINT) {
                $f['non_retryable'] = $r->varint() !== 0;
            } elseif (($n === 5 && $k === 3 || $n === 7 && $k === 1) && $t === Wire::LEN) {
                $f['details'] = self::decodePayloads($r->bytes());
            } else {
                $r->skip($t);
            }
        }
    }

    /** @param array<string, mixed> $f */
    public static function encodeFailure(array $f): string
    {
        if (isset($f['raw'])) {
            return $f['raw']; // a failure that came from Temporal goes back verbatim
        }
        $out = Wire::bytes(1, (string)$f['message']) . Wire::bytes(2, (string)($f['source'] ?? 'PHP_SDK'))
            . Wire::bytes(3, (string)($f['stack_trace'] ?? ''));
        if (!empty($f['cause'])) {
            $out .= Wire::bytes(4, self::encodeFailure($f['cause']), true);
        }
        $details = empty($f['details']) ? '' : Wire::bytes(1, self::encodePayloads($f['details']), true);
        $info = (int)($f['info'] ?? 5);
        $body = match ($info) {
            5 => Wire::bytes(1, (string)($f['type'] ?? '')) . Wire::bool(2, (bool)($f['non_retryable'] ?? false))
                . ($details === '' ? '' : Wire::bytes(3, self::encodePayloads($f['details']), true)),
            7 => $details,
            default => '',
        };
        return $out . Wire::bytes($info, $body, true);
    }
}
