<?php

declare(strict_types=1);

namespace RR\Jobs;

use RR\Payload;
use RR\Worker;

/**
 * A job handed to this worker. Exactly one of ack/nack/requeue/complete/fail is sent
 * (later calls, also on copies made by with*(), are ignored): a second reply frame
 * would be read by the server as the answer to the next job.
 */
final class ReceivedTask
{
    public const TYPE_COMPLETE = 0;
    public const TYPE_FAIL = 1;
    public const TYPE_ACK = 2;
    public const TYPE_NACK = 3;
    public const TYPE_REQUEUE = 4;

    private int $delay = 0;
    /** Shared by all copies of this task: one job, one reply. */
    private \stdClass $state;

    /**
     * @param array<string, list<string>> $headers
     */
    public function __construct(
        private readonly Worker $worker,
        private readonly string $id,
        private readonly string $name,
        private readonly string $pipeline,
        private readonly string $queue,
        private readonly string $driver,
        private readonly string $payload,
        private array $headers = [],
        private readonly int $partition = 0,
        private readonly int $offset = 0,
    ) {
        $this->state = new \stdClass();
        $this->state->completed = false;
    }

    public function getId(): string
    {
        return $this->id;
    }

    public function getName(): string
    {
        return $this->name;
    }

    public function getPipeline(): string
    {
        return $this->pipeline;
    }

    public function getQueue(): string
    {
        return $this->queue;
    }

    public function getDriver(): string
    {
        return $this->driver;
    }

    public function getPayload(): string
    {
        return $this->payload;
    }

    /** Kafka only. */
    public function getPartition(): int
    {
        return $this->partition;
    }

    /** Kafka only. */
    public function getOffset(): int
    {
        return $this->offset;
    }

    public function getDelay(): int
    {
        return $this->delay;
    }

    /** @return array<string, list<string>> */
    public function getHeaders(): array
    {
        return $this->headers;
    }

    public function hasHeader(string $name): bool
    {
        return isset($this->headers[$name]) && $this->headers[$name] !== [];
    }

    /** @return list<string> */
    public function getHeader(string $name): array
    {
        return $this->headers[$name] ?? [];
    }

    public function getHeaderLine(string $name): string
    {
        return \implode(',', $this->getHeader($name));
    }

    /** @param string|iterable<string> $value */
    public function withHeader(string $name, string|iterable $value): self
    {
        $copy = clone $this;
        $copy->headers[$name] = self::values($value);
        return $copy;
    }

    /** @param string|iterable<string> $value */
    public function withAddedHeader(string $name, string|iterable $value): self
    {
        $copy = clone $this;
        $copy->headers[$name] = [...($copy->headers[$name] ?? []), ...self::values($value)];
        return $copy;
    }

    public function withoutHeader(string $name): self
    {
        $copy = clone $this;
        unset($copy->headers[$name]);
        return $copy;
    }

    public function withDelay(int $seconds): self
    {
        $copy = clone $this;
        $copy->delay = $seconds;
        return $copy;
    }

    public function isCompleted(): bool
    {
        return $this->state->completed;
    }

    public function ack(): void
    {
        $this->reply(self::TYPE_ACK, []);
    }

    public function nack(string|\Stringable|\Throwable $message, bool $redelivery = false): void
    {
        $this->reply(self::TYPE_NACK, [
            'message' => (string)$message,
            'requeue' => $redelivery,
            'delay_seconds' => $this->delay,
        ]);
    }

    public function requeue(string|\Stringable|\Throwable $message): void
    {
        $data = ['message' => (string)$message, 'delay_seconds' => $this->delay];
        if ($this->headers !== []) {
            $data['headers'] = $this->headers;
        }
        $this->reply(self::TYPE_REQUEUE, $data);
    }

    /** @deprecated use ack() */
    public function complete(): void
    {
        $this->reply(self::TYPE_COMPLETE, []);
    }

    /** @deprecated use nack() or requeue() */
    public function fail(string|\Stringable|\Throwable $error, bool $requeue = false): void
    {
        $data = ['message' => (string)$error, 'requeue' => $requeue, 'delay_seconds' => $this->delay];
        if ($this->headers !== []) {
            $data['headers'] = $this->headers;
        }
        $this->reply(self::TYPE_FAIL, $data);
    }

    /** @param array<string, mixed> $data */
    private function reply(int $type, array $data): void
    {
        if ($this->state->completed) {
            return;
        }
        $this->state->completed = true;
        $this->worker->respond(new Payload(\json_encode(['type' => $type, 'data' => $data], \JSON_THROW_ON_ERROR)));
    }

    /**
     * @param string|iterable<string> $value
     * @return list<string>
     */
    private static function values(string|iterable $value): array
    {
        if (\is_string($value)) {
            return [$value];
        }
        $out = [];
        foreach ($value as $item) {
            $out[] = (string)$item;
        }
        return $out;
    }
}
