<?php

declare(strict_types=1);

namespace RR\Jobs;

use RR\Worker;

/**
 * The jobs worker loop: one task per request payload (jobs.md §4).
 */
final class Consumer
{
    private readonly Worker $worker;

    public function __construct(?Worker $worker = null)
    {
        $this->worker = $worker ?? Worker::create();
    }

    public function getWorker(): Worker
    {
        return $this->worker;
    }

    /**
     * The next task, or null when the server stops the worker.
     *
     * @throws ReceivedTaskException|SerializationException on a malformed context; like
     *         the SDK this normally ends the worker, and the server nacks the job
     */
    public function waitTask(): ?ReceivedTask
    {
        $payload = $this->worker->waitPayload();
        if ($payload === null) {
            return null;
        }
        if ($payload->header === '') {
            throw new ReceivedTaskException('Task payload does not have a valid header.');
        }
        try {
            $context = \json_decode($payload->header, true, 512, \JSON_THROW_ON_ERROR);
        } catch (\JsonException $e) {
            throw new SerializationException($e->getMessage(), (int)$e->getCode(), $e);
        }
        if (!\is_array($context) || !\is_string($context['id'] ?? null) || !\is_string($context['job'] ?? null)) {
            throw new ReceivedTaskException('Task header must contain string `id` and `job`.');
        }
        $headers = [];
        foreach ((array)($context['headers'] ?? []) as $name => $values) {
            $headers[(string)$name] = \array_map('strval', \array_values((array)$values));
        }
        return new ReceivedTask(
            $this->worker,
            $context['id'],
            $context['job'],
            (string)($context['pipeline'] ?? 'unknown'),
            (string)($context['queue'] ?? 'unknown'),
            (string)($context['driver'] ?? 'unknown'),
            $payload->body,
            $headers,
            isset($context['partition']) ? (int)$context['partition'] : 0,
            isset($context['offset']) ? (int)$context['offset'] : 0,
        );
    }
}
