<?php

declare(strict_types=1);

namespace RR\Temporal;

use RR\Payload;
use RR\Worker as RRWorker;

/**
 * A compact stand-in for temporal/sdk's WorkerFactory on the RR_CODEC=protobuf wire
 * (spec/temporal.md §3–§6): the same process serves as the workflow worker and as an
 * activity worker, depending on the messages it gets.
 *
 * Workflows are closures `fn(WorkflowContext $ctx, ...$args)` that may be generators;
 * each yielded Request becomes a command and the coroutine resumes with its result.
 */
final class Worker
{
    public const SDK_VERSION = '2.18.0';

    /** @var array<string, \Closure> */
    private array $workflows = [];
    /** @var array<string, \Closure> */
    private array $activities = [];
    /** @var array<string, Process> */
    private array $processes = [];
    /** @var array<int, Process> request id → waiting process */
    private array $pending = [];
    /** @var list<array<string, mixed>> commands issued during the current batch */
    private array $commands = [];
    private static int $nextId = 0;

    public function __construct(private readonly string $taskQueue = 'default')
    {
    }

    public function registerWorkflow(string $name, \Closure $fn): self
    {
        $this->workflows[$name] = $fn;
        return $this;
    }

    public function registerActivity(string $name, \Closure $fn): self
    {
        $this->activities[$name] = $fn;
        return $this;
    }

    public function run(?RRWorker $worker = null): void
    {
        $worker ??= RRWorker::create();
        while ($payload = $worker->waitPayload()) {
            try {
                $context = \json_decode($payload->header ?: '{}', true, 512, \JSON_THROW_ON_ERROR);
                $answer = $this->dispatch($context, Codec::decodeFrame($payload->body));
                $worker->respond(new Payload(Codec::encodeFrame($answer)));
            } catch (\Throwable $e) {
                $worker->error((string)$e);
            }
        }
    }

    /**
     * @param array<string, mixed> $context
     * @param list<array<string, mixed>> $messages
     * @return list<array<string, mixed>>
     */
    public function dispatch(array $context, array $messages): array
    {
        $responses = [];
        $this->commands = [];
        foreach ($messages as $m) {
            $replay = (bool)($context['replay'] ?? $m['replay']);
            $options = $m['options'] === '' ? [] : \json_decode($m['options'], true, 512, \JSON_THROW_ON_ERROR);
            if ($m['command'] === '') {
                $this->resolve($m);
                continue;
            }
            try {
                $result = $this->command($m, $options, $context, $replay);
                if ($result !== false) {
                    $responses[] = ['id' => 0, 'payloads' => $result];
                }
            } catch (\Throwable $e) {
                $responses[] = ['id' => 0, 'failure' => TemporalFailure::toFailure($e)];
            }
        }
        $this->wakeAwaiting();
        return [...$responses, ...$this->commands];
    }

    /** @return list<array<string, mixed>>|false payloads of the success response, false = none */
    private function command(array $m, array $o, array $context, bool $replay): array|false
    {
        $proc = $this->processes[$m['run_id']] ?? null;
        if ($proc !== null) {
            $proc->ctx->replaying = $replay;
            $proc->ctx->tickTime = (string)($context['tickTime'] ?? '');
        }
        $null = [Converter::toPayload(null)];
        switch ($m['command']) {
            case 'GetWorkerInfo':
                return Converter::toPayloads($this->workerInfo());
            case 'InvokeActivity':
            case 'InvokeLocalActivity':
                return $this->invokeActivity($m, $o);
            case 'StartWorkflow':
                $this->start($m, $o, $replay);
                return $null;
        }
        if ($proc === null) {
            $this->commands[] = $this->message('UndefinedResponse', ['message' =>
                \sprintf('Workflow with the specified run identifier "%s" not found', $m['run_id'])]);
            return false;
        }
        $args = Converter::fromPayloads($m['payloads']);
        switch ($m['command']) {
            case 'InvokeSignal':
                $handler = $proc->ctx->signals[$o['name']] ?? null;
                if ($handler !== null) {
                    $handler(...$args);
                }
                return $null;
            case 'InvokeQuery':
                $handler = $proc->ctx->queries[$o['name']] ?? null;
                if ($handler === null) {
                    throw new \RuntimeException(\sprintf('unknown queryType %s. KnownQueryTypes=[%s]',
                        $o['name'], \implode(' ', \array_keys($proc->ctx->queries))));
                }
                return [Converter::toPayload($handler(...$args))];
            case 'StackTrace':
                return [Converter::toPayload('coroutine waiting for request ' . ($proc->waiting ?? 'none'))];
            case 'InvokeUpdate':
                $this->update($proc, $o, $args);
                return false;
            case 'CancelWorkflow':
                $this->cancel($proc);
                return $null;
            case 'DestroyWorkflow':
                $proc->done = true;
                unset($this->processes[$m['run_id']]);
                return $null;
        }
        throw new \RuntimeException("unknown command {$m['command']}");
    }

    /** @return list<array<string, mixed>> */
    private function workerInfo(): array
    {
        $workflows = [];
        foreach (\array_keys($this->workflows) as $name) {
            $workflows[] = ['name' => $name, 'queries' => [], 'signals' => [], 'versioning_behavior' => 0];
        }
        return [['TaskQueue' => $this->taskQueue, 'Options' => new \stdClass(),
                 'Workflows' => $workflows,
                 'Activities' => \array_map(fn ($n) => ['Name' => $n], \array_keys($this->activities)),
                 'PhpSdkVersion' => self::SDK_VERSION, 'Plugins' => [], 'Flags' => ['ApiKey' => '']]];
    }

    // -- workflows -----------------------------------------------------------------------
    private function start(array $m, array $o, bool $replay): void
    {
        $name = $o['info']['WorkflowType']['Name'] ?? '';
        $fn = $this->workflows[$name] ?? throw new \RuntimeException(
            \sprintf('Workflow with the specified name "%s" was not registered', $name));
        $all = Converter::fromPayloads($m['payloads']);
        $args = \array_slice($all, 0, \count($all) - (int)($o['lastCompletion'] ?? 0));
        $runId = $m['run_id'] !== '' ? $m['run_id'] : $o['info']['WorkflowExecution']['RunID'];
        $proc = null;
        $ctx = new WorkflowContext($o['info'], function (Request $r) use (&$proc): void {
            $this->issue($proc, $r);
        });
        $ctx->replaying = $replay;
        $proc = new Process($runId, $ctx);
        $this->processes[$runId] = $proc;
        try {
            $result = $fn($ctx, ...$args);
        } catch (\Throwable $e) {
            $this->finish($proc, null, $e);
            return;
        }
        if (!$result instanceof \Generator) {
            $this->finish($proc, $result, null);
            return;
        }
        $proc->generator = $result;
        $this->step($proc, fn () => $result->current());
    }

    /** Runs the coroutine until it waits (a command or a condition) or ends. */
    private function step(Process $proc, \Closure $resume): void
    {
        try {
            $yielded = $resume();
            $gen = $proc->generator;
            while ($gen->valid()) {
                if (\is_array($yielded) && $yielded !== []) {
                    $this->issueGroup($proc, $yielded);
                    return;
                }
                if (!$yielded instanceof Request) {
                    $yielded = $gen->send($yielded);
                    continue;
                }
                if ($yielded->condition !== null) {
                    if (!($yielded->condition)()) {
                        $proc->condition = $yielded->condition;
                        return;
                    }
                    $yielded = $gen->send(true);
                    continue;
                }
                $proc->waiting = $this->issue($proc, $yielded);
                if ($yielded->command === 'ContinueAsNew') {
                    $proc->done = true;
                }
                return;
            }
            $this->finish($proc, $gen->getReturn(), null);
        } catch (\Throwable $e) {
            $this->finish($proc, null, $e);
        }
    }

    /**
     * A yielded list of requests runs in parallel: all are issued in one batch and the
     * coroutine resumes with the list of results once all are in (or with the first
     * failure).
     *
     * @param array<int|string, Request> $requests
     */
    private function issueGroup(Process $proc, array $requests): void
    {
        $proc->group = [];
        $proc->results = [];
        $proc->groupError = null;
        foreach (\array_values($requests) as $i => $r) {
            $proc->group[$this->issue($proc, $r)] = $i;
        }
    }

    /** @return bool true when the group is complete and the coroutine can resume */
    private function resolveInGroup(Process $proc, array $m): bool
    {
        $i = $proc->group[$m['id']];
        unset($proc->group[$m['id']]);
        if ($m['failure'] !== null) {
            $proc->groupError ??= TemporalFailure::fromFailure($m['failure']);
        } else {
            $proc->results[$i] = Converter::fromPayloads($m['payloads'])[0] ?? null;
        }
        return $proc->group === [];
    }

    private function issue(Process $proc, Request $r): int
    {
        $msg = $this->message($r->command, $r->options, Converter::toPayloads($r->args));
        $this->commands[] = $msg;
        $this->pending[$msg['id']] = $proc;
        if ($r->command === 'ExecuteChildWorkflow') {
            // the SDK's child stub waits for the start right away (§6.4)
            $this->commands[] = $this->message('GetChildWorkflowExecution', ['id' => $msg['id']]);
        }
        return $msg['id'];
    }

    private function finish(Process $proc, mixed $result, ?\Throwable $error): void
    {
        $proc->done = true;
        if ($error === null) {
            $this->commands[] = $this->message('CompleteWorkflow', [], [Converter::toPayload($result)]);
        } elseif ($error instanceof TemporalFailure) {
            $this->commands[] = $this->message('CompleteWorkflow', [], [], TemporalFailure::toFailure($error));
        } else {
            // a plain PHP error fails the workflow task; Temporal retries it (§7.6)
            $this->commands[] = $this->message('Panic', [], [], TemporalFailure::toFailure($error));
        }
    }

    /** A response from the server for one of our requests. */
    private function resolve(array $m): void
    {
        $proc = $this->pending[$m['id']] ?? null;
        unset($this->pending[$m['id']]);
        if ($proc !== null && !$proc->done && isset($proc->group[$m['id']])) {
            if ($this->resolveInGroup($proc, $m)) {
                $gen = $proc->generator;
                $error = $proc->groupError;
                $results = $proc->results;
                \ksort($results);
                $this->step($proc, $error !== null ? fn () => $gen->throw($error) : fn () => $gen->send($results));
            }
            return;
        }
        if ($proc === null || $proc->done || $proc->waiting !== $m['id']) {
            return; // e.g. GetChildWorkflowExecution or a request cancelled meanwhile
        }
        $proc->waiting = null;
        $gen = $proc->generator;
        if ($m['failure'] !== null) {
            $e = TemporalFailure::fromFailure($m['failure']);
            $this->step($proc, fn () => $gen->throw($e));
            return;
        }
        $values = Converter::fromPayloads($m['payloads']);
        $this->step($proc, fn () => $gen->send($values[0] ?? null));
    }

    private function wakeAwaiting(): void
    {
        do {
            $woke = false;
            foreach ($this->processes as $proc) {
                if ($proc->done || $proc->condition === null || !($proc->condition)()) {
                    continue;
                }
                $proc->condition = null;
                $gen = $proc->generator;
                $this->step($proc, fn () => $gen->send(true));
                $woke = true;
            }
        } while ($woke);
    }

    /**
     * Cancellation of the workflow: a pending request is cancelled on the server and the
     * coroutine gets its (cancelled) result; a coroutine waiting on a condition gets a
     * CanceledFailure at once.
     */
    private function cancel(Process $proc): void
    {
        if ($proc->done || $proc->generator === null) {
            return;
        }
        if ($proc->waiting !== null || $proc->group !== []) {
            $ids = $proc->waiting !== null ? [$proc->waiting] : \array_keys($proc->group);
            $this->commands[] = $this->message('Cancel', ['ids' => $ids]);
            return;
        }
        $proc->condition = null;
        $gen = $proc->generator;
        $this->step($proc, fn () => $gen->throw(new CanceledFailure('canceled')));
    }

    private function update(Process $proc, array $o, array $args): void
    {
        $id = $o['updateId'];
        [$handler, $validator] = $proc->ctx->updates[$o['name']] ?? [null, null];
        if ($handler === null) {
            $this->commands[] = $this->message('UpdateValidated', ['id' => $id], [], TemporalFailure::toFailure(
                new ApplicationFailure(\sprintf('unknown update method %s. KnownUpdateNames=[%s]',
                    $o['name'], \implode(' ', \array_keys($proc->ctx->updates))))));
            return;
        }
        try {
            if ($validator !== null && empty($o['replay'])) {
                $validator(...$args);
            }
        } catch (\Throwable $e) {
            $this->commands[] = $this->message('UpdateValidated', ['id' => $id], [], TemporalFailure::toFailure($e));
            return;
        }
        $this->commands[] = $this->message('UpdateValidated', ['id' => $id]);
        try {
            $result = $handler(...$args);
            $this->commands[] = $this->message('UpdateCompleted', ['id' => $id], [Converter::toPayload($result)]);
        } catch (\Throwable $e) {
            $this->commands[] = $this->message('UpdateCompleted', ['id' => $id], [], TemporalFailure::toFailure($e));
        }
    }

    // -- activities -----------------------------------------------------------------------
    /** @return list<array<string, mixed>> */
    private function invokeActivity(array $m, array $o): array
    {
        $fn = $this->activities[$o['name']] ?? throw new \RuntimeException(
            \sprintf('Activity with the specified name "%s" was not registered', $o['name']));
        $all = Converter::fromPayloads($m['payloads']);
        $hb = (int)($o['heartbeatDetails'] ?? 0);
        Activity::$info = $o['info'];
        Activity::$heartbeatDetails = $hb > 0 ? \array_slice($all, -$hb) : [];
        Activity::$async = false;
        $result = $fn(...($hb > 0 ? \array_slice($all, 0, -$hb) : $all));
        if (Activity::$async) {
            throw new \RuntimeException('doNotCompleteOnReturn');
        }
        return [Converter::toPayload($result)];
    }

    /** @return array<string, mixed> */
    private function message(string $command, array $options = [], array $payloads = [], ?array $failure = null): array
    {
        if (self::$nextId === 0) {
            self::$nextId = (int)\floor(\microtime(true) * 1e6); // as the SDK's request ids
        }
        return ['id' => self::$nextId++, 'command' => $command,
                'options' => $options === [] ? '{}' : \json_encode($options, \JSON_THROW_ON_ERROR),
                'payloads' => $payloads, 'failure' => $failure];
    }
}
