<?php

declare(strict_types=1);

namespace RR\Temporal;

/**
 * The default data converter chain of temporal/sdk (spec/temporal.md §3.7) for plain
 * PHP values: null → binary/null, everything else → json/plain. binary/plain decodes
 * to the raw bytes.
 */
final class Converter
{
    /** @return array{metadata: array<string, string>, data: string} */
    public static function toPayload(mixed $value): array
    {
        if ($value === null) {
            return ['metadata' => ['encoding' => 'binary/null'], 'data' => ''];
        }
        return ['metadata' => ['encoding' => 'json/plain'],
                'data' => \json_encode($value, \JSON_THROW_ON_ERROR | \JSON_PRESERVE_ZERO_FRACTION)];
    }

    /** @param array{metadata: array<string, string>, data: string} $p */
    public static function fromPayload(array $p): mixed
    {
        return match ($p['metadata']['encoding'] ?? '') {
            'binary/null' => null,
            'binary/plain' => $p['data'],
            'json/plain', 'json/protobuf' => \json_decode($p['data'], true, 512, \JSON_THROW_ON_ERROR),
            default => throw new \RuntimeException('unknown payload encoding: ' . ($p['metadata']['encoding'] ?? '')),
        };
    }

    /** @param list<mixed> $values @return list<array{metadata: array<string, string>, data: string}> */
    public static function toPayloads(array $values): array
    {
        return \array_map([self::class, 'toPayload'], \array_values($values));
    }

    /** @param list<array{metadata: array<string, string>, data: string}>|null $payloads @return list<mixed> */
    public static function fromPayloads(?array $payloads): array
    {
        return \array_map([self::class, 'fromPayload'], $payloads ?? []);
    }
}
