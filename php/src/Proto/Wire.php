<?php

declare(strict_types=1);

namespace RR\Proto;

/**
 * Protobuf wire-format writer helpers (proto3: zero values are not emitted).
 */
final class Wire
{
    public const VARINT = 0;
    public const FIXED64 = 1;
    public const LEN = 2;
    public const FIXED32 = 5;

    /** Unsigned LEB128 of the 64-bit two's complement (negatives take 10 bytes). */
    public static function varint(int $value): string
    {
        $out = '';
        while (true) {
            $byte = $value & 0x7F;
            $value = ($value >> 7) & 0x01FFFFFFFFFFFFFF; // logical shift
            if ($value === 0) {
                return $out . \chr($byte);
            }
            $out .= \chr($byte | 0x80);
        }
    }

    public static function tag(int $field, int $wireType): string
    {
        return self::varint(($field << 3) | $wireType);
    }

    /** A length-delimited field; empty values are skipped unless $always. */
    public static function bytes(int $field, string $value, bool $always = false): string
    {
        if ($value === '' && !$always) {
            return '';
        }
        return self::tag($field, self::LEN) . self::varint(\strlen($value)) . $value;
    }

    public static function int(int $field, int $value): string
    {
        return $value === 0 ? '' : self::tag($field, self::VARINT) . self::varint($value);
    }

    /** A proto3 `optional` scalar: emitted whenever set, zero included; null = absent. */
    public static function optionalInt(int $field, ?int $value): string
    {
        return $value === null ? '' : self::tag($field, self::VARINT) . self::varint($value);
    }

    public static function bool(int $field, bool $value): string
    {
        return $value ? self::tag($field, self::VARINT) . "\x01" : '';
    }

    /** A nested message (always emitted, even when empty, as protobuf does for set fields). */
    public static function message(int $field, Message $message): string
    {
        return self::bytes($field, $message->encode(), true);
    }

    /** @param list<string> $values */
    public static function repeatedString(int $field, array $values): string
    {
        $out = '';
        foreach ($values as $value) {
            $out .= self::bytes($field, (string)$value, true);
        }
        return $out;
    }

    /** map<string, string> as repeated entries {key = 1, value = 2}. */
    public static function stringMap(int $field, array $map): string
    {
        $out = '';
        foreach ($map as $key => $value) {
            $out .= self::bytes($field, self::bytes(1, (string)$key) . self::bytes(2, (string)$value), true);
        }
        return $out;
    }
}
