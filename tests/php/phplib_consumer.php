<?php
/**
 * Fixture: RR\Jobs\Consumer. The job payload selects the reply:
 *   ack | complete | twice (ack, then nack: must send one frame)
 *   nack:<msg> | redeliver:<msg> (nack with redelivery, delay 30)
 *   requeue:<msg> (withHeader attempts=2, withDelay 10)
 *   fail:<msg> | fail-requeue:<msg>
 *   info → nack whose message is the JSON of the task getters
 */
declare(strict_types=1);

require __DIR__ . '/../../php/autoload.php';

use RR\Jobs\Consumer;

$consumer = new Consumer();
while ($task = $consumer->waitTask()) {
    [$action, $msg] = array_pad(explode(':', $task->getPayload(), 2), 2, '');
    switch ($action) {
        case 'ack':
            $task->ack();
            break;
        case 'complete':
            $task->complete();
            break;
        case 'twice':
            $task->ack();
            $task->withDelay(3)->nack('again');
            break;
        case 'nack':
            $task->nack($msg);
            break;
        case 'redeliver':
            $task->withDelay(30)->nack($msg, true);
            break;
        case 'requeue':
            $task->withHeader('attempts', '2')->withDelay(10)->requeue($msg);
            break;
        case 'fail':
            $task->fail($msg);
            break;
        case 'fail-requeue':
            $task->fail($msg, true);
            break;
        case 'info':
            $task->nack(json_encode([
                'id' => $task->getId(),
                'name' => $task->getName(),
                'pipeline' => $task->getPipeline(),
                'queue' => $task->getQueue(),
                'driver' => $task->getDriver(),
                'headers' => $task->getHeaders(),
                'attempts' => $task->getHeaderLine('attempts'),
                'hasMissing' => $task->hasHeader('missing'),
                'partition' => $task->getPartition(),
                'offset' => $task->getOffset(),
            ]));
            break;
        default:
            $task->nack('unknown action');
    }
}
