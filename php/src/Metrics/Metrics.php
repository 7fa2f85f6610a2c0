<?php

declare(strict_types=1);

namespace RR\Metrics;

use RR\RPC\RPC;
use RR\RPC\ServiceException;

/**
 * Application metrics over metrics.* RPC (JSON codec, service prefix `metrics`:
 * add() calls metrics.Add).
 */
final class Metrics
{
    private readonly RPC $rpc;

    public function __construct(RPC $rpc)
    {
        $this->rpc = $rpc->withServicePrefix('metrics');
    }

    /** @param list<string> $labels */
    public function add(string $name, float $value, array $labels = []): void
    {
        $this->metric('add', $name, $value, $labels);
    }

    /** @param list<string> $labels */
    public function sub(string $name, float $value, array $labels = []): void
    {
        $this->metric('sub', $name, $value, $labels);
    }

    /** @param list<string> $labels */
    public function set(string $name, float $value, array $labels = []): void
    {
        $this->metric('set', $name, $value, $labels);
    }

    /** @param list<string> $labels */
    public function observe(string $name, float $value, array $labels = []): void
    {
        $this->metric('observe', $name, $value, $labels);
    }

    /**
     * Registers a collector; declaring one that already exists is not an error.
     *
     * @param Collector|array<string, mixed> $collector
     */
    public function declare(string $name, Collector|array $collector): void
    {
        try {
            $this->rpc->call('declare', ['name' => $name, 'collector' => $collector]);
        } catch (ServiceException $e) {
            if (\str_contains($e->getMessage(), 'tried to register existing collector')) {
                return;
            }
            throw new MetricsException($e->getMessage(), 0, $e);
        }
    }

    public function unregister(string $name): void
    {
        try {
            $this->rpc->call('unregister', $name);
        } catch (ServiceException $e) {
            throw new MetricsException($e->getMessage(), 0, $e);
        }
    }

    /** @param list<string> $labels */
    private function metric(string $method, string $name, float $value, array $labels): void
    {
        try {
            $this->rpc->call($method, ['name' => $name, 'value' => $value, 'labels' => \array_values($labels)]);
        } catch (ServiceException $e) {
            throw new MetricsException($e->getMessage(), 0, $e);
        }
    }
}
