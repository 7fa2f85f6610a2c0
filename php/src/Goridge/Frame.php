<?php

declare(strict_types=1);

namespace RR\Goridge;

/**
 * One goridge v1 frame (12-byte header, up to 10 u32 options, payload).
 *
 * The CRC covers header bytes 0..5 only; receivers here ignore it, exactly like the
 * PHP SDK, because the server is the party that validates it.
 */
final class Frame
{
    public const CONTROL = 0x01;
    public const CODEC_RAW = 0x04;
    public const CODEC_JSON = 0x08;
    public const CODEC_MSGPACK = 0x10;
    public const CODEC_GOB = 0x20;
    public const ERROR = 0x40;
    public const CODEC_PROTO = 0x80;

    public const BYTE10_STREAM = 0x01;
    public const BYTE10_STOP = 0x02;
    public const BYTE10_PING = 0x04;
    public const BYTE10_PONG = 0x08;

    public const HEADER_SIZE = 12;
    public const MAX_OPTIONS = 10;

    /**
     * @param list<int> $options
     */
    public function __construct(
        public string $payload = '',
        public array $options = [],
        public int $flags = 0,
        public int $byte10 = 0,
        public int $byte11 = 0,
    ) {
    }

    public function hasFlag(int $flag): bool
    {
        return ($this->flags & $flag) === $flag;
    }

    /**
     * The whole frame as one string, so a relay can hand it to ONE write call.
     */
    public static function encode(Frame $frame): string
    {
        $count = \count($frame->options);
        if ($count > self::MAX_OPTIONS) {
            throw new \InvalidArgumentException("too many frame options: $count");
        }
        $head = \pack('CCV', 0x10 | (3 + $count), $frame->flags & 0xFF, \strlen($frame->payload));
        $out = $head . \pack('VCC', \crc32($head), $frame->byte10 & 0xFF, $frame->byte11 & 0xFF);
        if ($count > 0) {
            $out .= \pack('V*', ...$frame->options);
        }
        return $out . $frame->payload;
    }

    /**
     * Decodes a 12-byte header.
     *
     * @return array{hl:int, flags:int, length:int, byte10:int, byte11:int}
     */
    public static function decodeHeader(string $header): array
    {
        if (\strlen($header) !== self::HEADER_SIZE) {
            throw new HeaderException('Unable to read frame header: Incorrect header size');
        }
        $b0 = \ord($header[0]);
        $hl = $b0 & 0x0F;
        if ($hl < 3) {
            throw new HeaderException('Unable to read frame header: Invalid header length');
        }
        $length = \unpack('V', $header, 2)[1];
        return [
            'hl' => $hl,
            'flags' => \ord($header[1]),
            'length' => $length,
            'byte10' => \ord($header[10]),
            'byte11' => \ord($header[11]),
        ];
    }

    /**
     * Builds a frame from a decoded header and the bytes that follow it
     * (options then payload).
     *
     * @param array{hl:int, flags:int, length:int, byte10:int, byte11:int} $header
     */
    public static function fromParts(array $header, string $rest): self
    {
        $optionBytes = ($header['hl'] - 3) * 4;
        $options = $optionBytes > 0
            ? \array_values(\unpack('V*', \substr($rest, 0, $optionBytes)))
            : [];
        return new self(
            (string)\substr($rest, $optionBytes),
            $options,
            $header['flags'],
            $header['byte10'],
            $header['byte11'],
        );
    }

    /**
     * Decodes one complete frame held in a string (used by tests and by socket relays).
     */
    public static function decode(string $data): self
    {
        $header = self::decodeHeader(\substr($data, 0, self::HEADER_SIZE));
        return self::fromParts($header, (string)\substr($data, self::HEADER_SIZE));
    }
}
