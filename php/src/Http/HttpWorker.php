<?php

declare(strict_types=1);

namespace RR\Http;

use RR\Goridge\Frame;
use RR\Payload;
use RR\Worker;

/**
 * HTTP on top of the worker protocol: JSON request context in, JSON response
 * context `{"status":…,"headers":{…}}` out (frame flag CODEC_JSON, as
 * roadrunner-http >= 3.5 sends in JSON mode).
 */
final class HttpWorker
{
    public function __construct(private readonly Worker $worker)
    {
    }

    public static function create(): self
    {
        return new self(Worker::create());
    }

    public function getWorker(): Worker
    {
        return $this->worker;
    }

    /**
     * The next request, or null when the worker must exit.
     *
     * @throws \JsonException|\InvalidArgumentException for a malformed context; the
     *         caller should answer 400 and go on (SDK README pattern)
     */
    public function waitRequest(): ?Request
    {
        $payload = $this->worker->waitPayload();
        if ($payload === null) {
            return null;
        }
        if ($payload->header === '' && $payload->body === '') {
            return null;
        }
        $context = \json_decode($payload->header, true, 512, \JSON_THROW_ON_ERROR);
        if (!\is_array($context)) {
            throw new \InvalidArgumentException('HTTP request context must be a JSON object');
        }
        return self::arrayToRequest($payload->body, $context);
    }

    /**
     * @param array<string, mixed> $context
     */
    public static function arrayToRequest(string $body, array $context): Request
    {
        foreach (['remoteAddr', 'protocol', 'method', 'uri', 'rawQuery', 'parsed'] as $key) {
            if (!\array_key_exists($key, $context)) {
                throw new \InvalidArgumentException("HTTP request context has no `$key`");
            }
        }
        $headers = [];
        foreach ((array)($context['headers'] ?? []) as $name => $values) {
            if (!\is_string($name) || $name === '') {
                continue;
            }
            if (!\is_array($values)) {
                throw new \InvalidArgumentException("header `$name` must be a list of strings");
            }
            $headers[$name] = \array_map('strval', \array_values($values));
        }
        \parse_str((string)$context['rawQuery'], $query);
        return new Request(
            remoteAddr: (string)$context['remoteAddr'],
            protocol: (string)$context['protocol'],
            method: (string)$context['method'],
            uri: (string)$context['uri'],
            headers: $headers,
            cookies: \array_map('strval', (array)($context['cookies'] ?? [])),
            uploads: (array)($context['uploads'] ?? []),
            attributes: (array)($context['attributes'] ?? []),
            query: $query,
            body: $body,
            parsed: (bool)$context['parsed'],
            rawQuery: (string)$context['rawQuery'],
        );
    }

    /**
     * Sends a response. A Generator body is streamed chunk by chunk; a 1xx status is
     * an interim response (must have an empty body) and is always followed by more.
     *
     * @param array<string, list<string>|string> $headers
     */
    public function respond(int $status, string|\Generator $body = '', array $headers = [], bool $endOfStream = true): void
    {
        if ($status >= 100 && $status < 200) {
            if ($body !== '') {
                throw new \InvalidArgumentException('Unable to send a body with informational status code.');
            }
            // An interim response can never end the exchange: the final one follows.
            $endOfStream = false;
        }
        if ($body instanceof \Generator) {
            $this->respondStream($status, $body, $headers);
            return;
        }
        $this->worker->respond(new Payload($body, self::encodeContext($status, $headers), $endOfStream), Frame::CODEC_JSON);
    }

    /**
     * @param array<string, list<string>|string> $headers
     */
    private function respondStream(int $status, \Generator $body, array $headers): void
    {
        $context = self::encodeContext($status, $headers);
        while (true) {
            if (!$body->valid()) {
                $last = $body->getReturn();
                $this->worker->respond(new Payload(\is_string($last) ? $last : '', $context, true), Frame::CODEC_JSON);
                return;
            }
            if ($this->worker->isStreamStopped()) {
                try {
                    $body->throw(new StreamStoppedException());
                } catch (StreamStoppedException) {
                    // the generator did not handle it: nothing more to send anyway
                }
                // Acknowledges the STOP: a final frame without the STREAM bit.
                $this->worker->respond(new Payload(''));
                return;
            }
            $chunk = (string)$body->current();
            $this->worker->respond(new Payload($chunk, $context, false), Frame::CODEC_JSON);
            $body->next();
        }
    }

    /**
     * @param array<string, list<string>|string> $headers
     */
    private static function encodeContext(int $status, array $headers): string
    {
        return \json_encode(
            ['status' => $status, 'headers' => $headers === [] ? new \stdClass() : $headers],
            \JSON_THROW_ON_ERROR | \JSON_UNESCAPED_SLASHES | \JSON_UNESCAPED_UNICODE,
        );
    }
}
