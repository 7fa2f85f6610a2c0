<?php
/**
 * App logger fixture (RR\Logger\Logger over RPC).
 * php app_logger.php <rpc address> <tag>: one message per level without context, one
 * per level with context, then raw log() lines; prints "done" or the LoggerException.
 */
declare(strict_types=1);

require __DIR__ . '/../../php/autoload.php';

use RR\Logger\Logger;
use RR\Logger\LoggerException;
use RR\RPC\RPC;

[, $address, $tag] = $argv;
$logger = new Logger(RPC::create($address));
$stringable = new class implements \Stringable {
    public function __toString(): string
    {
        return 'as-text';
    }
};
try {
    foreach (['error', 'warning', 'info', 'debug'] as $level) {
        $logger->$level("$tag plain $level");
        $logger->$level("$tag ctx $level", [
            'user' => 'ann', 'n' => 42, 'ok' => true, 'list' => [1, 'a'],
            'obj' => $stringable, 'bad' => NAN,
        ]);
    }
    $logger->log("$tag raw line");
    $logger->log("$tag raw with newline\n");
    $logger->log("$tag raw ctx", ['a' => '1', 'b' => 2]);
    echo "done\n";
} catch (LoggerException $e) {
    echo 'LoggerException: ', $e->getMessage(), "\n";
}
