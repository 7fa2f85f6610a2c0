<?php

declare(strict_types=1);

namespace RR\Jobs;

/**
 * Per-queue or per-task push options. Zero values mean "not set": priority 0 inherits
 * the pipeline priority. topic/metadata/offset/partition matter for Kafka only.
 */
final class Options
{
    /**
     * @param array<string, list<string>|string> $headers
     */
    public function __construct(
        public readonly int $delay = 0,
        public readonly int $priority = 0,
        public readonly bool $autoAck = false,
        public readonly array $headers = [],
        public readonly string $topic = '',
        public readonly string $metadata = '',
        public readonly int $offset = 0,
        public readonly int $partition = 0,
    ) {
    }

    /**
     * Options given to push() win over the queue's where they are set, as in the SDK:
     * non-zero delay/priority, auto_ack true; non-empty headers replace all headers.
     */
    public function mergeOptional(?Options $task): self
    {
        if ($task === null) {
            return $this;
        }
        return new self(
            $task->delay !== 0 ? $task->delay : $this->delay,
            $task->priority !== 0 ? $task->priority : $this->priority,
            $task->autoAck || $this->autoAck,
            $task->headers !== [] ? $task->headers : $this->headers,
            $task->topic !== '' ? $task->topic : $this->topic,
            $task->metadata !== '' ? $task->metadata : $this->metadata,
            $task->offset !== 0 ? $task->offset : $this->offset,
            $task->partition !== 0 ? $task->partition : $this->partition,
        );
    }
}
