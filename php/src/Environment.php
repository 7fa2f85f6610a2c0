<?php

declare(strict_types=1);

namespace RR;

/**
 * The three variables RoadRunner hands to workers (RR_MODE, RR_RELAY, RR_RPC),
 * read from $_ENV, $_SERVER and getenv() in that order, with the SDK's defaults.
 */
final class Environment
{
    public const MODE_HTTP = 'http';
    public const MODE_JOBS = 'jobs';
    public const MODE_GRPC = 'grpc';

    /** @param array<string, string> $env */
    public function __construct(private readonly array $env = [])
    {
    }

    public static function fromGlobals(): self
    {
        $env = [];
        foreach (['RR_MODE', 'RR_RELAY', 'RR_RPC', 'RR_VERSION'] as $name) {
            $value = $_ENV[$name] ?? $_SERVER[$name] ?? \getenv($name);
            if (\is_string($value)) {
                $env[$name] = $value;
            }
        }
        return new self($env);
    }

    public function getMode(): string
    {
        return $this->env['RR_MODE'] ?? '';
    }

    public function getRelayAddress(): string
    {
        return $this->env['RR_RELAY'] ?? 'pipes';
    }

    public function getRPCAddress(): string
    {
        return $this->env['RR_RPC'] ?? 'tcp://127.0.0.1:6001';
    }
}
