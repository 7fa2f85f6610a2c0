<?php
// `hello`: the smallest useful response. Under php-fpm it is a plain script; under rr the
// same file runs the worker loop.
declare(strict_types=1);

if (PHP_SAPI !== 'cli') {
    header('Content-Type: text/plain');
    echo 'Hello, world!';
    return;
}
require getenv('RR_PHP_LIB') . '/autoload.php';
$http = RR\Http\HttpWorker::create();
while (($req = $http->waitRequest()) !== null) {
    $http->respond(200, 'Hello, world!', ['Content-Type' => ['text/plain']]);
}
