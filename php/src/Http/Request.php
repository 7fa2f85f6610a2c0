<?php

declare(strict_types=1);

namespace RR\Http;

/**
 * One HTTP request as the server describes it in the JSON context (http-payload.md §2).
 */
final class Request
{
    public const PARSED_BODY_ATTRIBUTE_NAME = 'rr_parsed_body';

    /**
     * @param array<string, list<string>> $headers
     * @param array<string, string> $cookies
     * @param array<mixed> $uploads
     * @param array<string, mixed> $attributes
     * @param array<mixed> $query
     */
    public function __construct(
        public readonly string $remoteAddr = '127.0.0.1',
        public readonly string $protocol = 'HTTP/1.1',
        public readonly string $method = 'GET',
        public readonly string $uri = 'http://localhost',
        public readonly array $headers = [],
        public readonly array $cookies = [],
        public readonly array $uploads = [],
        public readonly array $attributes = [],
        public readonly array $query = [],
        public readonly string $body = '',
        public readonly bool $parsed = false,
        public readonly string $rawQuery = '',
    ) {
    }

    public function getRemoteAddr(): string
    {
        $ip = $this->attributes['ipAddress'] ?? null;
        return \is_string($ip) && $ip !== '' ? $ip : $this->remoteAddr;
    }

    /** The PSR-7 protocol version: HTTP/2.0 → "2", unknown → "1.1". */
    public function getProtocolVersion(): string
    {
        return match ($this->protocol) {
            'HTTP/1.0' => '1.0',
            'HTTP/2', 'HTTP/2.0' => '2',
            'HTTP/3', 'HTTP/3.0' => '3',
            default => '1.1',
        };
    }

    public function getPath(): string
    {
        return (string)(\parse_url($this->uri, \PHP_URL_PATH) ?? '/');
    }

    /** First value of a header, names compared case-insensitively. */
    public function getHeaderLine(string $name): string
    {
        foreach ($this->headers as $key => $values) {
            if (\strcasecmp($key, $name) === 0) {
                return \implode(', ', $values);
            }
        }
        return '';
    }

    /**
     * The form tree the server parsed (urlencoded / multipart), or null for raw bodies.
     *
     * @throws \JsonException when the server flagged the body as parsed but it is not JSON
     */
    public function getParsedBody(): ?array
    {
        if (!$this->parsed) {
            return null;
        }
        $decoded = \json_decode($this->body, true, 512, \JSON_THROW_ON_ERROR);
        return \is_array($decoded) ? $decoded : null;
    }
}
