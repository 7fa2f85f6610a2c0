<?php

declare(strict_types=1);

namespace RR\Jobs;

use RR\Jobs\DTO\Job;
use RR\Jobs\DTO\Options as OptionsMessage;
use RR\Jobs\DTO\Pipelines;
use RR\Jobs\DTO\PushBatchRequest;
use RR\Jobs\DTO\PushRequest;
use RR\Jobs\DTO\Stat;
use RR\Jobs\DTO\Stats;
use RR\RPC\RPC;
use RR\RPC\ServiceException;

/**
 * A named pipeline seen from a producer. Building one makes no RPC; the name is
 * checked by the server on the first push.
 */
final class Queue
{
    private readonly Options $options;

    public function __construct(
        private readonly string $name,
        private readonly RPC $rpc,
        ?Options $options = null,
    ) {
        $this->options = $options ?? new Options();
    }

    public function getName(): string
    {
        return $this->name;
    }

    public function getDefaultOptions(): Options
    {
        return $this->options;
    }

    public function create(string $name, string $payload = '', ?Options $options = null): PreparedTask
    {
        return new PreparedTask($name, $payload, $this->options->mergeOptional($options));
    }

    public function push(string $name, string $payload = '', ?Options $options = null): QueuedTask
    {
        return $this->dispatch($this->create($name, $payload, $options));
    }

    public function dispatch(PreparedTask $task): QueuedTask
    {
        [$job, $queued] = $this->toJob($task);
        $this->call('jobs.Push', new PushRequest($job));
        return $queued;
    }

    /** One jobs.PushBatch call for all tasks. @return list<QueuedTask> */
    public function dispatchMany(PreparedTask ...$tasks): array
    {
        $jobs = [];
        $queued = [];
        foreach ($tasks as $task) {
            [$jobs[], $queued[]] = $this->toJob($task);
        }
        $this->call('jobs.PushBatch', new PushBatchRequest($jobs));
        return $queued;
    }

    public function pause(): void
    {
        $this->call('jobs.Pause', new Pipelines([$this->name]));
    }

    public function resume(): void
    {
        $this->call('jobs.Resume', new Pipelines([$this->name]));
    }

    public function getPipelineStat(): ?Stat
    {
        $stats = $this->call('jobs.Stat', '', Stats::class);
        \assert($stats instanceof Stats);
        foreach ($stats->stats as $stat) {
            if ($stat->pipeline === $this->name) {
                return $stat;
            }
        }
        return null;
    }

    public function isPaused(): bool
    {
        $stat = $this->getPipelineStat();
        return $stat !== null && !$stat->ready;
    }

    /** @return array{Job, QueuedTask} */
    private function toJob(PreparedTask $task): array
    {
        $options = $task->getOptions();
        $headers = \array_filter($task->getHeaders(), static fn(array $values): bool => $values !== []);
        $id = self::uuid4();
        $job = new Job($task->name, $id, $task->payload, $headers, new OptionsMessage(
            priority: $options->priority,
            pipeline: $this->name,
            delay: $options->delay,
            autoAck: $options->autoAck,
            topic: $options->topic,
            metadata: $options->metadata,
            offset: $options->offset,
            partition: $options->partition,
        ));
        return [$job, new QueuedTask($id, $this->name, $task->name, $task->payload, $headers)];
    }

    private function call(string $method, mixed $payload, ?string $decodeInto = null): mixed
    {
        try {
            return $this->rpc->call($method, $payload, $decodeInto);
        } catch (ServiceException $e) {
            throw new JobsException($e->getMessage(), (int)$e->getCode(), $e);
        }
    }

    private static function uuid4(): string
    {
        $bytes = \random_bytes(16);
        $bytes[6] = \chr((\ord($bytes[6]) & 0x0F) | 0x40);
        $bytes[8] = \chr((\ord($bytes[8]) & 0x3F) | 0x80);
        return \vsprintf('%s%s-%s-%s-%s-%s%s%s', \str_split(\bin2hex($bytes), 4));
    }
}
