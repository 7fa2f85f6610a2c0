<?php

/**
 * A temporal worker that breaks the protocol on purpose: the workflow input picks the
 * fault ("garbage" = bytes that are no temporal.v1.Frame, "unknown" = a command rr does
 * not know, "error" = an error frame, "activity" = an activity whose worker answers with
 * two messages; the workflow returns the failure rr reported). Input "ok" completes.
 */

declare(strict_types=1);

require __DIR__ . '/../../php/autoload.php';

use RR\Payload;
use RR\Temporal\Codec;
use RR\Temporal\Converter;

$worker = RR\Worker::create();
$tq = getenv('TEMPORAL_TASK_QUEUE') ?: 'default';
while ($p = $worker->waitPayload()) {
    $messages = Codec::decodeFrame($p->body);
    $m = $messages[0];
    if ($m['command'] === 'GetWorkerInfo') {
        $info = ['TaskQueue' => $tq, 'Options' => new stdClass(),
                 'Workflows' => [['name' => 'Bad', 'queries' => [], 'signals' => []]],
                 'Activities' => [['Name' => 'Bad.act']], 'PhpSdkVersion' => '2.18.0',
                 'Flags' => ['ApiKey' => '']];
        $worker->respond(new Payload(Codec::encodeFrame([['id' => 0, 'payloads' => [Converter::toPayload($info)]]])));
        continue;
    }
    if ($m['command'] === 'InvokeActivity') {
        $twice = ['id' => 0, 'payloads' => [Converter::toPayload('one')]];
        $worker->respond(new Payload(Codec::encodeFrame([$twice, $twice])));
        continue;
    }
    if ($m['command'] === '' && $m['id'] === 9) {  // the activity's outcome
        $text = $m['failure']['message'] . ' / ' . ($m['failure']['cause']['message'] ?? '');
        $worker->respond(new Payload(Codec::encodeFrame([['id' => 10, 'command' => 'CompleteWorkflow',
            'options' => '{}', 'payloads' => [Converter::toPayload($text)]]])));
        continue;
    }
    if ($m['command'] !== 'StartWorkflow') {
        $worker->respond(new Payload(Codec::encodeFrame([['id' => 0, 'payloads' => [Converter::toPayload(null)]]])));
        continue;
    }
    $mode = Converter::fromPayloads($m['payloads'])[0] ?? '';
    $ok = ['id' => 0, 'payloads' => [Converter::toPayload(null)]];
    match ($mode) {
        'garbage' => $worker->respond(new Payload("\xff\xff\xff\xff")),
        'unknown' => $worker->respond(new Payload(Codec::encodeFrame([$ok,
            ['id' => 7, 'command' => 'Bogus', 'options' => '{}']]))),
        'error' => $worker->error('PHP blew up'),
        'activity' => $worker->respond(new Payload(Codec::encodeFrame([$ok,
            ['id' => 9, 'command' => 'ExecuteActivity', 'options' => json_encode(['name' => 'Bad.act',
                'options' => ['StartToCloseTimeout' => 10_000_000_000,
                              'RetryPolicy' => ['maximum_attempts' => 1]]])]]))),
        default => $worker->respond(new Payload(Codec::encodeFrame([$ok,
            ['id' => 8, 'command' => 'CompleteWorkflow', 'options' => '{}',
             'payloads' => [Converter::toPayload('fine')]]]))),
    };
}
