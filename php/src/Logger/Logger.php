<?php

declare(strict_types=1);

namespace RR\Logger;

use RR\Goridge\Frame;
use RR\Logger\DTO\LogEntry;
use RR\RPC\RPC;
use RR\RPC\ServiceException;

/**
 * rr's app logger over app.* RPC, as roadrunner-php/app-logger sends it: without context
 * the plain method with a JSON string (app.Error …), with context the *WithContext
 * method with a protobuf LogEntry. Context values become strings: strings and
 * Stringables as they are, anything else JSON-encoded; a value that cannot be encoded is
 * left out. log() writes the raw text to rr's stderr.
 */
final class Logger
{
    private readonly RPC $rpc;

    public function __construct(RPC $rpc)
    {
        $this->rpc = $rpc->withServicePrefix('app');
    }

    /** @param array<array-key, mixed> $context */
    public function error(string|\Stringable $message, array $context = []): void
    {
        $this->send('Error', $message, $context);
    }

    /** @param array<array-key, mixed> $context */
    public function warning(string|\Stringable $message, array $context = []): void
    {
        $this->send('Warning', $message, $context);
    }

    /** @param array<array-key, mixed> $context */
    public function info(string|\Stringable $message, array $context = []): void
    {
        $this->send('Info', $message, $context);
    }

    /** @param array<array-key, mixed> $context */
    public function debug(string|\Stringable $message, array $context = []): void
    {
        $this->send('Debug', $message, $context);
    }

    /** @param array<array-key, mixed> $context */
    public function log(string|\Stringable $message, array $context = []): void
    {
        $this->send('Log', $message, $context);
    }

    /** @param array<array-key, mixed> $context */
    private function send(string $method, string|\Stringable $message, array $context): void
    {
        try {
            if ($context === []) {
                $this->rpc->call($method, (string)$message);
                return;
            }
            $attrs = [];
            foreach ($context as $key => $value) {
                try {
                    $attrs[(string)$key] = self::stringify($value);
                } catch (\Throwable) {
                    // not representable as text: skipped, as the SDK does
                }
            }
            $this->rpc->withCodec(Frame::CODEC_PROTO)
                ->call($method . 'WithContext', new LogEntry((string)$message, $attrs));
        } catch (ServiceException $e) {
            throw new LoggerException(\str_replace(["\t", "\n"], ' ', $e->getMessage()), (int)$e->getCode(), $e);
        }
    }

    private static function stringify(mixed $value): string
    {
        if (\is_string($value)) {
            return $value;
        }
        if ($value instanceof \Stringable) {
            return (string)$value;
        }
        return \json_encode($value, \JSON_THROW_ON_ERROR);
    }
}
