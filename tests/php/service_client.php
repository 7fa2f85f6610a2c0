<?php

/**
 * Drives every service.* method through RR\Services\Manager (protobuf codec, as
 * spiral/roadrunner-services) and prints one JSON object with what came back.
 */

declare(strict_types=1);

require __DIR__ . '/../../php/autoload.php';

use RR\RPC\RPC;
use RR\Services\Manager;
use RR\Services\ServiceException;

$manager = new Manager(RPC::fromEnvironment());
$out = [];
$out['create'] = $manager->create('php-made', 'sleep 302', processNum: 2, env: ['a' => 'b'], restartSec: 1);
$out['list'] = $manager->list();
$out['statuses'] = $manager->statuses('php-made');
$out['restart'] = $manager->restart('php-made');
$out['statuses_after'] = $manager->statuses('php-made');
$out['terminate'] = $manager->terminate('php-made');
$out['list_after'] = $manager->list();
foreach (['dup' => fn () => $manager->create('base', 'sleep 1'),
          'missing' => fn () => $manager->create('x', 'no-such-binary-here'),
          'unknown' => fn () => $manager->terminate('ghost')] as $key => $fn) {
    try {
        $fn();
        $out[$key] = 'no error';
    } catch (ServiceException $e) {
        $out[$key] = $e->getMessage();
    }
}
echo json_encode($out, JSON_THROW_ON_ERROR), "\n";
