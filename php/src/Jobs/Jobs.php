<?php

declare(strict_types=1);

namespace RR\Jobs;

use RR\Goridge\Frame;
use RR\Jobs\DTO\DeclareRequest;
use RR\Jobs\DTO\Pipelines;
use RR\RPC\RPC;
use RR\RPC\ServiceException;

/**
 * Producer API over jobs.* RPC (protobuf codec, full method names).
 *
 * @implements \IteratorAggregate<string, Queue>
 */
final class Jobs implements \IteratorAggregate, \Countable
{
    private readonly RPC $rpc;

    public function __construct(RPC $rpc)
    {
        $this->rpc = $rpc->withCodec(Frame::CODEC_PROTO);
    }

    /** Makes no RPC: the name is only checked by the server when pushing. */
    public function connect(string $queue, ?Options $options = null): Queue
    {
        return new Queue($queue, $this->rpc, $options);
    }

    /**
     * Declares a pipeline (jobs.Declare). Like the real server, a pipeline not listed in
     * jobs.consume stays paused until resume().
     *
     * @param array<string, mixed>|MemoryCreateInfo|object $info a map, or an object with toArray()
     */
    public function create(array|object $info, ?Options $options = null): Queue
    {
        $map = \is_array($info) ? $info : $info->toArray();
        $pipeline = [];
        foreach ($map as $key => $value) {
            $pipeline[(string)$key] = self::stringify((string)$key, $value);
        }
        $this->call('jobs.Declare', new DeclareRequest($pipeline));
        return $this->connect($pipeline['name'] ?? '', $options);
    }

    public function pause(string|Queue $queue, string|Queue ...$queues): void
    {
        $this->call('jobs.Pause', new Pipelines(self::names($queue, ...$queues)));
    }

    public function resume(string|Queue $queue, string|Queue ...$queues): void
    {
        $this->call('jobs.Resume', new Pipelines(self::names($queue, ...$queues)));
    }

    /** @return \Traversable<string, Queue> */
    public function getIterator(): \Traversable
    {
        $pipelines = $this->call('jobs.List', '', Pipelines::class);
        \assert($pipelines instanceof Pipelines);
        foreach ($pipelines->pipelines as $name) {
            yield $name => $this->connect($name);
        }
    }

    public function count(): int
    {
        return \iterator_count($this->getIterator());
    }

    /** @return list<string> */
    private static function names(string|Queue ...$queues): array
    {
        return \array_map(static fn(string|Queue $q): string => $q instanceof Queue ? $q->getName() : $q, $queues);
    }

    /** Declare values travel as strings (jobs.md §6.1). */
    private static function stringify(string $key, mixed $value): string
    {
        return match (true) {
            \is_string($value) => $value,
            \is_int($value) => (string)$value,
            \is_bool($value) => $value ? 'true' : 'false',
            \is_array($value), $value instanceof \JsonSerializable => \json_encode($value, \JSON_THROW_ON_ERROR),
            $value instanceof \Stringable => (string)$value,
            default => throw new \InvalidArgumentException("cannot send declare option `$key` of type " . \get_debug_type($value)),
        };
    }

    private function call(string $method, mixed $payload, ?string $decodeInto = null): mixed
    {
        try {
            return $this->rpc->call($method, $payload, $decodeInto);
        } catch (ServiceException $e) {
            throw new JobsException($e->getMessage(), (int)$e->getCode(), $e);
        }
    }
}
