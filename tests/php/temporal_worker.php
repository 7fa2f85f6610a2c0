<?php

/**
 * Workflows and activities for tests/temporal: one script is both the workflow worker
 * and the activity workers, as with temporal/sdk. TEMPORAL_FIXTURE_VERSION switches
 * the "Versioned" workflow between its old and new code.
 */

declare(strict_types=1);

require __DIR__ . '/../../php/autoload.php';

use RR\Temporal\Activity;
use RR\Temporal\ActivityFailure;
use RR\Temporal\ApplicationFailure;
use RR\Temporal\Worker;
use RR\Temporal\WorkflowContext;

$w = new Worker(getenv('TEMPORAL_TASK_QUEUE') ?: 'default');

$w->registerActivity('Greeter.hello', fn (string $name) => "Hello $name");
$w->registerActivity('Greeter.pid', fn () => getmypid());

// fails until the attempt named in its argument, then succeeds
$w->registerActivity('Flaky.run', function (int $succeedOn) {
    $attempt = Activity::getInfo()['Attempt'];
    if ($attempt < $succeedOn) {
        throw new \RuntimeException("attempt $attempt failed");
    }
    return "ok after $attempt";
});

$w->registerActivity('Failing.always', function () {
    throw new ApplicationFailure('bad input', 'BadInput', true);
});

// heartbeats until cancelled; writes a marker file when PHP saw the cancellation
$w->registerActivity('Slow.heartbeat', function (string $marker) {
    for ($i = 0; $i < 600; $i++) {
        try {
            Activity::heartbeat($i);
        } catch (\RR\Temporal\ActivityCanceledException $e) {
            file_put_contents($marker, 'cancelled');
            throw $e;
        }
        usleep(100_000);
    }
    return 'not cancelled';
});

// never heartbeats: for the heartbeat timeout
$w->registerActivity('Slow.silent', function () {
    sleep(6);
    return 'late';
});

// completed later by task token, by whoever reads the token file
$w->registerActivity('Async.later', function (string $tokenFile) {
    file_put_contents($tokenFile, Activity::getInfo()['TaskToken']);
    Activity::doNotCompleteOnReturn();
    return null;
});

// attempt 1 records a heartbeat and fails; attempt 2 resumes from the recorded details
$w->registerActivity('Resume.heartbeat', function () {
    if (Activity::getInfo()['Attempt'] === 1) {
        Activity::heartbeat(41);
        usleep(300_000);
        throw new \RuntimeException('first attempt fails after its heartbeat');
    }
    return ['resumed from' => Activity::$heartbeatDetails[0] ?? null];
});

// the first attempt kills its own PHP process (kill -9)
$w->registerActivity('Crash.once', function () {
    $attempt = Activity::getInfo()['Attempt'];
    if ($attempt === 1) {
        posix_kill(getmypid(), 9);
    }
    return "survived on attempt $attempt";
});

$w->registerWorkflow('Greeting', function (WorkflowContext $ctx, string $name) {
    $greeting = yield $ctx->executeActivity('Greeter.hello', [$name],
        ['StartToCloseTimeout' => 10_000_000_000,
         'Priority' => ['priority_key' => 2, 'fairness_key' => '', 'fairness_weight' => 0.0]]);
    yield $ctx->timer(1);
    return $greeting;
});

// three activities and a timer in parallel: one batch of commands, results in order
$w->registerWorkflow('Parallel', function (WorkflowContext $ctx) {
    $opts = ['StartToCloseTimeout' => 10_000_000_000];
    return yield [
        $ctx->executeActivity('Greeter.hello', ['a'], $opts),
        $ctx->timer(0.5),
        $ctx->executeActivity('Greeter.hello', ['b'], $opts),
        $ctx->executeLocalActivity('Greeter.hello', ['c'], $opts),
    ];
});

// the benchmark's workflow: exactly one activity
$w->registerWorkflow('Greeting1', function (WorkflowContext $ctx, string $name) {
    return yield $ctx->executeActivity('Greeter.hello', [$name], ['StartToCloseTimeout' => 10_000_000_000]);
});

$w->registerWorkflow('Retrying', function (WorkflowContext $ctx, int $succeedOn) {
    return yield $ctx->executeActivity('Flaky.run', [$succeedOn], [
        'StartToCloseTimeout' => 10_000_000_000,
        'RetryPolicy' => ['initial_interval' => ['seconds' => 0, 'nanos' => 100_000_000],
                          'backoff_coefficient' => 1.0, 'maximum_attempts' => 5],
    ]);
});

$w->registerWorkflow('NonRetryable', function (WorkflowContext $ctx) {
    try {
        yield $ctx->executeActivity('Failing.always', [], ['StartToCloseTimeout' => 10_000_000_000]);
    } catch (ActivityFailure $e) {
        $cause = $e->getPrevious();
        return get_class($e) . ': ' . $cause->type . ': ' . $cause->getMessage();
    }
    return 'no failure';
});

$w->registerWorkflow('HeartbeatTimeout', function (WorkflowContext $ctx) {
    try {
        yield $ctx->executeActivity('Slow.silent', [], ['StartToCloseTimeout' => 60_000_000_000,
            'HeartbeatTimeout' => 1_000_000_000, 'RetryPolicy' => ['maximum_attempts' => 1]]);
    } catch (ActivityFailure $e) {
        return 'timeout: ' . get_class($e->getPrevious());
    }
    return 'no timeout';
});

$w->registerWorkflow('CancelActivity', function (WorkflowContext $ctx, string $marker) {
    try {
        yield $ctx->executeActivity('Slow.heartbeat', [$marker], ['StartToCloseTimeout' => 60_000_000_000,
            'HeartbeatTimeout' => 5_000_000_000, 'WaitForCancellation' => true,
            'RetryPolicy' => ['maximum_attempts' => 1]]);
    } catch (\RR\Temporal\CanceledFailure $e) {
        return 'cancelled';
    }
    return 'finished';
});

$w->registerWorkflow('Signals', function (WorkflowContext $ctx) {
    $items = [];
    $done = false;
    $ctx->registerSignal('add', function (string $item) use (&$items) { $items[] = $item; });
    $ctx->registerSignal('done', function () use (&$done) { $done = true; });
    $ctx->registerQuery('items', function () use (&$items) { return $items; });
    $ctx->registerUpdate('addMany', function (array $more) use (&$items) {
        array_push($items, ...$more);
        return count($items);
    }, function (array $more) {
        if ($more === []) {
            throw new ApplicationFailure('nothing to add', 'Empty');
        }
    });
    yield $ctx->await(function () use (&$done) { return $done; });
    return $items;
});

$w->registerWorkflow('Parent', function (WorkflowContext $ctx, string $name) {
    $child = yield $ctx->executeChildWorkflow('Greeting', [$name], ['TaskQueueName' => $ctx->info['TaskQueueName']]);
    return "child said: $child";
});

$w->registerWorkflow('Looping', function (WorkflowContext $ctx, int $n, int $total) {
    if ($n >= 3) {
        return "done after $n runs, total $total";
    }
    $pid = yield $ctx->executeActivity('Greeter.pid', [], ['StartToCloseTimeout' => 10_000_000_000]);
    yield $ctx->continueAsNew('Looping', [$n + 1, $total + $n]);
});

$w->registerWorkflow('Versioned', function (WorkflowContext $ctx) {
    $steps = [];
    if (getenv('TEMPORAL_FIXTURE_VERSION') === '2') {
        $v = yield $ctx->getVersion('new-step', -1, 1);
        $steps[] = "version $v";
        if ($v === 1) {
            $steps[] = yield $ctx->executeActivity('Greeter.hello', ['v1'], ['StartToCloseTimeout' => 10_000_000_000]);
        }
    }
    $ctx->registerSignal('go', function () use (&$go) { $go = true; });
    $go = false;
    yield $ctx->await(function () use (&$go) { return $go; });
    $steps[] = yield $ctx->executeActivity('Greeter.hello', ['end'], ['StartToCloseTimeout' => 10_000_000_000]);
    return $steps;
});

$w->registerWorkflow('SideEffects', function (WorkflowContext $ctx) {
    $value = yield $ctx->sideEffect(fn () => random_int(1, PHP_INT_MAX));
    $ctx->registerQuery('first', function () use (&$value) { return $value; });
    $ctx->registerSignal('go', function () use (&$go) { $go = true; });
    $go = false;
    yield $ctx->await(function () use (&$go) { return $go; });
    $again = yield $ctx->sideEffect(fn () => random_int(1, PHP_INT_MAX));
    return [$value, $again, $ctx->isReplaying()];
});

$w->registerWorkflow('Sleeper', function (WorkflowContext $ctx, int $seconds) {
    $a = yield $ctx->executeActivity('Greeter.hello', ['before'], ['StartToCloseTimeout' => 10_000_000_000]);
    yield $ctx->timer($seconds);
    $b = yield $ctx->executeActivity('Greeter.hello', ['after'], ['StartToCloseTimeout' => 10_000_000_000]);
    return [$a, $b];
});

$w->registerWorkflow('LocalGreeting', function (WorkflowContext $ctx, string $name) {
    return yield $ctx->executeLocalActivity('Greeter.hello', [$name], ['StartToCloseTimeout' => 5_000_000_000]);
});

$w->registerWorkflow('CancelTimer', function (WorkflowContext $ctx) {
    try {
        yield $ctx->timer(300);
    } catch (\RR\Temporal\CanceledFailure $e) {
        return 'timer cancelled: ' . $e->getMessage();
    }
    return 'timer fired';
});

$w->registerWorkflow('Memo', function (WorkflowContext $ctx) {
    $ctx->upsertMemo(['colour' => 'blue', 'size' => 3]);
    yield $ctx->timer(0.1);
    return 'memo set';
});

$w->registerWorkflow('AsyncActivity', function (WorkflowContext $ctx, string $tokenFile) {
    return yield $ctx->executeActivity('Async.later', [$tokenFile], ['StartToCloseTimeout' => 60_000_000_000]);
});

$w->registerWorkflow('ResumeFromHeartbeat', function (WorkflowContext $ctx) {
    return yield $ctx->executeActivity('Resume.heartbeat', [], ['StartToCloseTimeout' => 30_000_000_000,
        'HeartbeatTimeout' => 10_000_000_000,
        'RetryPolicy' => ['initial_interval' => ['seconds' => 0, 'nanos' => 100_000_000], 'maximum_attempts' => 2]]);
});

$w->registerWorkflow('TypedSearchAttributes', function (WorkflowContext $ctx) {
    $ctx->upsertTypedSearchAttributes(['RrKeyword' => ['type' => 'keyword', 'value' => 'blue'],
                                       'RrInt' => ['type' => 'int64', 'value' => 42]]);
    yield $ctx->timer(0.1);
    return 'sa set';
});

$w->registerWorkflow('CrashOnce', function (WorkflowContext $ctx) {
    return yield $ctx->executeActivity('Crash.once', [], ['StartToCloseTimeout' => 30_000_000_000,
        'RetryPolicy' => ['initial_interval' => ['seconds' => 0, 'nanos' => 100_000_000], 'maximum_attempts' => 3]]);
});

// signals another workflow, then cancels a third one
$w->registerWorkflow('External', function (WorkflowContext $ctx, string $target, string $victim) {
    yield $ctx->signalExternal($target, null, 'add', ['from outside']);
    yield $ctx->signalExternal($target, null, 'done');
    yield $ctx->cancelExternal($victim);
    try {
        yield $ctx->signalExternal('no-such-workflow', null, 'add', ['x']);
    } catch (\RR\Temporal\TemporalFailure $e) {
        return 'external done; missing target failed: ' . get_class($e);
    }
    return 'external done';
});

$w->registerWorkflow('DuplicateChild', function (WorkflowContext $ctx, string $runningId) {
    try {
        yield $ctx->executeChildWorkflow('Signals', [], ['WorkflowID' => $runningId,
            'TaskQueueName' => $ctx->info['TaskQueueName']]);
    } catch (\RR\Temporal\ChildWorkflowFailure $e) {
        return $e->getMessage() . ' / ' . $e->getPrevious()->type;
    }
    return 'child started twice';
});

$w->registerWorkflow('Fails', function (WorkflowContext $ctx) {
    throw new ApplicationFailure('workflow gave up', 'GaveUp', true);
});

$w->run();
