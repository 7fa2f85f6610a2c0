<?php

declare(strict_types=1);

namespace RR\Temporal;

/**
 * The API workflow code gets (the role of temporal/sdk's `Workflow` facade). Methods
 * returning a Request are meant to be yielded: `$r = yield $ctx->executeActivity(...)`.
 */
final class WorkflowContext
{
    /** @var array<string, \Closure> */
    public array $signals = [];
    /** @var array<string, \Closure> */
    public array $queries = [];
    /** @var array<string, array{\Closure, ?\Closure}> */
    public array $updates = [];
    public bool $replaying = false;
    public string $tickTime = '';

    /** @param array<string, mixed> $info Go's workflow.Info JSON */
    public function __construct(public readonly array $info, private readonly \Closure $emit)
    {
    }

    public function isReplaying(): bool
    {
        return $this->replaying;
    }

    /** @param array<string, mixed> $options ActivityOptions keys (Go names) */
    public function executeActivity(string $name, array $args = [], array $options = []): Request
    {
        return new Request('ExecuteActivity', ['name' => $name, 'options' => $options + [
            'TaskQueueName' => null, 'ScheduleToCloseTimeout' => 0, 'ScheduleToStartTimeout' => 0,
            'StartToCloseTimeout' => 60 * 1_000_000_000, 'HeartbeatTimeout' => 0,
            'WaitForCancellation' => false, 'ActivityID' => '', 'RetryPolicy' => null,
            'Summary' => '',
        ]], $args);
    }

    /** @param array<string, mixed> $options */
    public function executeLocalActivity(string $name, array $args = [], array $options = []): Request
    {
        return new Request('ExecuteLocalActivity', ['name' => $name, 'options' => $options + [
            'ScheduleToCloseTimeout' => 0, 'StartToCloseTimeout' => 0, 'RetryPolicy' => null,
        ]], $args);
    }

    /** @param array<string, mixed> $options ChildWorkflowOptions keys */
    public function executeChildWorkflow(string $name, array $args = [], array $options = []): Request
    {
        return new Request('ExecuteChildWorkflow', ['name' => $name, 'options' => $options + [
            'Namespace' => 'default', 'WorkflowID' => null, 'TaskQueueName' => 'default',
            'WorkflowExecutionTimeout' => 0, 'WorkflowRunTimeout' => 0, 'WorkflowTaskTimeout' => 0,
            'WaitForCancellation' => false, 'WorkflowIDReusePolicy' => 2, 'RetryPolicy' => null,
            'CronSchedule' => null, 'ParentClosePolicy' => 1, 'Memo' => null,
            'SearchAttributes' => null,
        ]], $args);
    }

    /** @param list<mixed> $args */
    public function signalExternal(string $workflowId, ?string $runId, string $signal, array $args = []): Request
    {
        return new Request('SignalExternalWorkflow', ['namespace' => $this->info['Namespace'] ?? 'default',
            'workflowID' => $workflowId, 'runID' => $runId, 'signal' => $signal,
            'childWorkflowOnly' => false], $args);
    }

    public function cancelExternal(string $workflowId, ?string $runId = null): Request
    {
        return new Request('CancelExternalWorkflow', ['namespace' => $this->info['Namespace'] ?? 'default',
            'workflowID' => $workflowId, 'runID' => $runId]);
    }

    public function timer(float $seconds): Request
    {
        return new Request('NewTimer', ['ms' => (int)\round($seconds * 1000)]);
    }

    /** The closure runs only when not replaying; the recorded value wins on replay. */
    public function sideEffect(\Closure $fn): Request
    {
        return new Request('SideEffect', [], [$this->replaying ? null : $fn()]);
    }

    public function getVersion(string $changeId, int $minSupported, int $maxSupported): Request
    {
        return new Request('GetVersion', ['changeID' => $changeId, 'minSupported' => $minSupported,
                                          'maxSupported' => $maxSupported]);
    }

    /** Resumes once the condition (re-checked after every batch) is true. */
    public function await(\Closure $condition): Request
    {
        return new Request('', [], [], $condition);
    }

    /** @param array<string, mixed> $options */
    public function continueAsNew(string $name, array $args = [], array $options = []): Request
    {
        return new Request('ContinueAsNew', ['name' => $name, 'options' => $options + [
            'WorkflowRunTimeout' => 0, 'TaskQueueName' => '', 'WorkflowTaskTimeout' => 0,
        ]], $args);
    }

    /** @param array<string, mixed> $memo fire-and-forget, as the SDK does */
    public function upsertMemo(array $memo): void
    {
        ($this->emit)(new Request('UpsertMemo', ['memo' => $memo]));
    }

    /** @param array<string, mixed> $attributes */
    public function upsertSearchAttributes(array $attributes): void
    {
        ($this->emit)(new Request('UpsertWorkflowSearchAttributes', ['searchAttributes' => $attributes]));
    }

    /**
     * @param array<string, array{type: string, value: mixed}> $attributes typed values
     *        (bool, float64, int64, keyword, keyword_list, string, datetime); a null
     *        value unsets the attribute
     */
    public function upsertTypedSearchAttributes(array $attributes): void
    {
        $sa = [];
        foreach ($attributes as $name => $a) {
            $sa[$name] = $a['value'] === null ? ['type' => $a['type'], 'operation' => 'unset']
                : ['type' => $a['type'], 'operation' => 'set', 'value' => $a['value']];
        }
        ($this->emit)(new Request('UpsertWorkflowTypedSearchAttributes', ['search_attributes' => $sa]));
    }

    public function registerSignal(string $name, \Closure $handler): void
    {
        $this->signals[$name] = $handler;
    }

    public function registerQuery(string $name, \Closure $handler): void
    {
        $this->queries[$name] = $handler;
    }

    public function registerUpdate(string $name, \Closure $handler, ?\Closure $validator = null): void
    {
        $this->updates[$name] = [$handler, $validator];
    }
}
