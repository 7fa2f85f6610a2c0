<?php

/**
 * The temporal example: a greeting workflow (one activity, one timer) served by
 * `temporal:` in .rr.yaml. The same script is the workflow worker and the activity
 * workers (RR_MODE=temporal, RR_CODEC=protobuf), as with temporal/sdk.
 *
 *   temporal workflow start --type Greeting --task-queue default --input '"World"'
 */

declare(strict_types=1);

require __DIR__ . '/../autoload.php';

use RR\Temporal\Worker;
use RR\Temporal\WorkflowContext;

(new Worker('default'))
    ->registerActivity('Greeter.hello', fn (string $name): string => "Hello, $name!")
    ->registerWorkflow('Greeting', function (WorkflowContext $ctx, string $name) {
        $greeting = yield $ctx->executeActivity('Greeter.hello', [$name],
            ['StartToCloseTimeout' => 10 * 1_000_000_000]);
        yield $ctx->timer(1);
        return $greeting;
    })
    ->run();
