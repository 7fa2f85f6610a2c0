<?php
/**
 * Jobs consumer fixture (RR\Jobs\Consumer). Every received task is appended as one JSON
 * line to $JOBS_LOG before answering, so tests can count deliveries exactly.
 * The payload selects the answer:
 *   ack | complete | nack:<m> | redeliver:<m> | requeue:<m> | fail:<m> | fail-requeue:<m>
 *   error:<m> (worker error frame) | crash (exit mid-job) | sleep:<ms> (then ack)
 *   raw:<body> (send <body> as the reply as is) | crash-until:<n> (crash while rr-attempt < n)
 *   requeue-until:<n> (requeue with header n=<attempts+1> until attempts header reaches n)
 * Once the file named by $JOBS_FIXED exists, every task is acked.
 */
declare(strict_types=1);

require __DIR__ . '/../../php/autoload.php';

use RR\Jobs\Consumer;
use RR\Payload;

$log = getenv('JOBS_LOG') ?: '/dev/null';
$fixed = getenv('JOBS_FIXED') ?: '';
$consumer = new Consumer();
while ($task = $consumer->waitTask()) {
    $payload = $task->getPayload();
    file_put_contents($log, json_encode([
        'id' => $task->getId(), 'job' => $task->getName(), 'pipeline' => $task->getPipeline(),
        'queue' => $task->getQueue(), 'driver' => $task->getDriver(),
        'headers' => $task->getHeaders(), 'payload' => $payload, 'pid' => getmypid(),
        't' => microtime(true),
    ]) . "\n", FILE_APPEND | LOCK_EX);
    [$action, $arg] = array_pad(explode(':', $payload, 2), 2, '');
    if ($fixed !== '' && file_exists($fixed)) {
        $action = 'ack';  // the "bug" was fixed: everything succeeds now
    }
    switch ($action) {
        case 'complete':
            $task->complete();
            break;
        case 'nack':
            $task->nack($arg);
            break;
        case 'redeliver':
            $task->nack($arg, true);
            break;
        case 'requeue':
            $task->withHeader('attempts', '2')->requeue($arg);
            break;
        case 'requeue-until':
            $n = (int)($task->getHeaderLine('attempts') ?: '1');
            if ($n < (int)$arg) {
                $task->withHeader('attempts', (string)($n + 1))->requeue('again');
            } else {
                $task->ack();
            }
            break;
        case 'fail':
            $task->fail($arg);
            break;
        case 'fail-requeue':
            $task->fail($arg, true);
            break;
        case 'error':
            $consumer->getWorker()->error($arg);
            break;
        case 'crash':
            exit(1);
        case 'crash-until':
            if ((int)($task->getHeaderLine('rr-attempt') ?: '1') < (int)$arg) {
                exit(1);
            }
            $task->ack();
            break;
        case 'sleep':
            usleep((int)$arg * 1000);
            $task->ack();
            break;
        case 'raw':
            $consumer->getWorker()->respond(new Payload($arg));
            break;
        default:
            $task->ack();
    }
}
