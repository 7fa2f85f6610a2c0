<?php

declare(strict_types=1);

namespace RR\Proto;

/**
 * Protobuf wire-format reader: iterate (field, wire type) tags and read values;
 * unknown fields are skipped.
 */
final class Reader
{
    private int $pos = 0;
    private readonly int $length;

    public function __construct(private readonly string $data)
    {
        $this->length = \strlen($data);
    }

    public function eof(): bool
    {
        return $this->pos >= $this->length;
    }

    /** @return array{int, int} field number and wire type */
    public function tag(): array
    {
        $tag = $this->varint();
        return [$tag >> 3, $tag & 0x07];
    }

    public function varint(): int
    {
        $result = 0;
        $shift = 0;
        while (true) {
            if ($this->pos >= $this->length) {
                throw new DecodeException('truncated varint');
            }
            $byte = \ord($this->data[$this->pos++]);
            if ($shift < 64) {
                $result |= ($byte & 0x7F) << $shift;
            }
            if (($byte & 0x80) === 0) {
                return $result;
            }
            $shift += 7;
            if ($shift > 70) {
                throw new DecodeException('varint too long');
            }
        }
    }

    public function bytes(): string
    {
        $len = $this->varint();
        if ($len < 0 || $this->pos + $len > $this->length) {
            throw new DecodeException('truncated length-delimited field');
        }
        $value = (string)\substr($this->data, $this->pos, $len);
        $this->pos += $len;
        return $value;
    }

    /** A proto3 `float` (wire type FIXED32, little-endian IEEE 754). */
    public function float32(): float
    {
        $start = $this->pos;
        $this->advance(4);
        return (float)\unpack('g', \substr($this->data, $start, 4))[1];
    }

    public function skip(int $wireType): void
    {
        match ($wireType) {
            Wire::VARINT => $this->varint(),
            Wire::FIXED64 => $this->advance(8),
            Wire::LEN => $this->bytes(),
            Wire::FIXED32 => $this->advance(4),
            default => throw new DecodeException("unsupported wire type $wireType"),
        };
    }

    /** map<string, string> entry {key = 1, value = 2}. @return array{string, string} */
    public static function mapEntry(string $entry): array
    {
        $key = '';
        $value = '';
        $reader = new self($entry);
        while (!$reader->eof()) {
            [$field, $type] = $reader->tag();
            if ($field === 1 && $type === Wire::LEN) {
                $key = $reader->bytes();
            } elseif ($field === 2 && $type === Wire::LEN) {
                $value = $reader->bytes();
            } else {
                $reader->skip($type);
            }
        }
        return [$key, $value];
    }

    private function advance(int $n): int
    {
        if ($this->pos + $n > $this->length) {
            throw new DecodeException('truncated fixed field');
        }
        $this->pos += $n;
        return $n;
    }
}
