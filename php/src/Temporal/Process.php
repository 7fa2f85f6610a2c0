<?php

declare(strict_types=1);

namespace RR\Temporal;

/** One workflow instance in the workflow worker's memory, keyed by the server's rr_id. */
final class Process
{
    public ?\Generator $generator = null;
    /** PHP request id the coroutine waits for, or null */
    public ?int $waiting = null;
    public ?\Closure $condition = null;
    /** @var array<int, int> request id → position, while waiting for a yielded list */
    public array $group = [];
    /** @var array<int, mixed> results of the yielded list so far */
    public array $results = [];
    public ?\Throwable $groupError = null;
    public bool $done = false;

    public function __construct(public readonly string $runId, public readonly WorkflowContext $ctx)
    {
    }
}
