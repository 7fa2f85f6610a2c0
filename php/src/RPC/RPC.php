<?php

declare(strict_types=1);

namespace RR\RPC;

use RR\Goridge\Frame;
use RR\Goridge\Relay;
use RR\Proto\Message;

/**
 * Blocking goridge RPC client (goridge.md §7).
 *
 * The sequence counter is a static shared by every RPC object of the process and
 * starts at 1, as in the SDK; it only advances when a reply matched.
 */
final class RPC
{
    private static int $seq = 1;

    private string $service = '';
    private int $codec = Frame::CODEC_JSON;

    public function __construct(private readonly Relay $relay)
    {
    }

    /** E.g. RPC::create('tcp://127.0.0.1:6001'), usually from RR_RPC. */
    public static function create(string $connection): self
    {
        return new self(Relay::create($connection));
    }

    public static function fromEnvironment(): self
    {
        return self::create(\RR\Environment::fromGlobals()->getRPCAddress());
    }

    /** The next sequence number a call will use. */
    public static function nextSequence(): int
    {
        return self::$seq;
    }

    public function getRelay(): Relay
    {
        return $this->relay;
    }

    /** call('add') then means call('<service>.Add'). */
    public function withServicePrefix(string $service): self
    {
        $copy = clone $this;
        $copy->service = $service;
        return $copy;
    }

    /** Frame::CODEC_JSON (default), CODEC_PROTO or CODEC_RAW. */
    public function withCodec(int $codec): self
    {
        if (!\in_array($codec, [Frame::CODEC_JSON, Frame::CODEC_PROTO, Frame::CODEC_RAW], true)) {
            throw new \InvalidArgumentException("unsupported codec $codec");
        }
        $copy = clone $this;
        $copy->codec = $codec;
        return $copy;
    }

    public function getCodec(): int
    {
        return $this->codec;
    }

    /**
     * @param mixed $options proto codec: a Message class name to decode the reply into;
     *                       JSON codec: extra json_decode flags
     * @throws ServiceException on an error reply, RPCException on a protocol mismatch
     */
    public function call(string $method, mixed $payload, mixed $options = null): mixed
    {
        if ($this->service !== '') {
            $method = $this->service . '.' . \ucfirst($method);
        }
        $this->relay->send(new Frame(
            $method . $this->encode($payload),
            [self::$seq, \strlen($method)],
            $this->codec,
        ));
        $frame = $this->relay->waitFrame();
        if (\count($frame->options) !== 2) {
            throw new RPCException('Invalid RPC frame, options missing');
        }
        if ($frame->options[0] !== self::$seq) {
            throw new RPCException('Invalid RPC frame, sequence mismatch');
        }
        self::$seq++;
        $body = (string)\substr($frame->payload, $frame->options[1]);
        if ($frame->hasFlag(Frame::ERROR)) {
            throw new ServiceException(\sprintf("Error '%s' on %s", $body, (string)$this->relay));
        }
        return $this->decode($body, $options);
    }

    private function encode(mixed $payload): string
    {
        return match ($this->codec) {
            Frame::CODEC_JSON => \json_encode($payload, \JSON_THROW_ON_ERROR),
            Frame::CODEC_PROTO => $payload instanceof Message ? $payload->encode() : self::bytes($payload),
            default => self::bytes($payload),
        };
    }

    private function decode(string $body, mixed $options): mixed
    {
        if ($this->codec === Frame::CODEC_JSON) {
            return \json_decode($body, true, 512, \JSON_THROW_ON_ERROR | (\is_int($options) ? $options : 0));
        }
        if ($this->codec === Frame::CODEC_PROTO && \is_string($options)
            && \is_subclass_of($options, Message::class)) {
            return $options::decode($body);
        }
        return $body;
    }

    private static function bytes(mixed $payload): string
    {
        if ($payload === null) {
            return '';
        }
        if (!\is_string($payload)) {
            throw new \InvalidArgumentException('raw/proto payload must be a string or a Message');
        }
        return $payload;
    }
}
