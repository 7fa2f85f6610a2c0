<?php
/**
 * A PHP application using the RPC clients of php/ the way it would use
 * spiral/roadrunner-metrics and spiral/roadrunner-kv. Prints one JSON report.
 * argv: rpc address, unique key prefix, storage name.
 */

declare(strict_types=1);

require __DIR__ . '/../../php/autoload.php';

use RR\KV\Factory;
use RR\Metrics\Collector;
use RR\Metrics\Metrics;
use RR\RPC\RPC;

[$_, $address, $prefix, $storage] = $argv;
$rpc = RPC::create($address);
$out = [];

$metrics = new Metrics($rpc);
$metrics->declare($prefix . '_orders', Collector::counter()->withHelp('Orders')->withLabels('shop'));
$metrics->declare($prefix . '_orders', Collector::counter()->withLabels('shop')); // again: fine
$metrics->add($prefix . '_orders', 2, ['berlin']);
$metrics->declare($prefix . '_queue', Collector::gauge());
$metrics->set($prefix . '_queue', 10);
$metrics->sub($prefix . '_queue', 4);
$metrics->declare($prefix . '_took', Collector::histogram(0.5, 1.0));
$metrics->observe($prefix . '_took', 0.7);
try {
    $metrics->add($prefix . '_orders', -1, ['berlin']);
    $out['negative'] = 'accepted';
} catch (\Throwable $e) {
    $out['negative'] = get_class($e) . ': ' . $e->getMessage();
}
try {
    $metrics->add('never_declared', 1);
    $out['undeclared'] = 'accepted';
} catch (\Throwable $e) {
    $out['undeclared'] = get_class($e) . ': ' . $e->getMessage();
}

$cache = (new Factory($rpc))->select($storage);
$cache->set($prefix . ':user', ['name' => 'Ann', 'tags' => [1, 2]]);
$cache->set($prefix . ':short', 'soon gone', 1);
$cache->setMultiple([$prefix . ':a' => 1, $prefix . ':b' => null], 3600);
$out['get'] = $cache->get($prefix . ':user');
$out['missing'] = $cache->get($prefix . ':nope', 'default');
$out['has'] = [$cache->has($prefix . ':user'), $cache->has($prefix . ':nope')];
$out['multiple'] = $cache->getMultiple([$prefix . ':a', $prefix . ':b', $prefix . ':nope'], 'd');
$ttl = $cache->getTtl($prefix . ':a');
$out['ttl_seconds'] = $ttl === null ? null : $ttl->getTimestamp() - time();
$out['ttl_none'] = $cache->getTtl($prefix . ':user');
$cache->delete($prefix . ':user');
$out['after_delete'] = $cache->has($prefix . ':user');
sleep(2);
$out['expired'] = $cache->has($prefix . ':short');
try {
    (new Factory($rpc))->select('no-such-storage')->get('x');
    $out['bad_storage'] = 'accepted';
} catch (\Throwable $e) {
    $out['bad_storage'] = get_class($e);
}
$cache->deleteMultiple([$prefix . ':a', $prefix . ':b']);

echo json_encode($out, JSON_THROW_ON_ERROR), "\n";
