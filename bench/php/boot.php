<?php
// `boot`: a framework-like bootstrap (≈300 classes loaded, ≈10 ms of CPU) then a 1 ms
// handler that waits like a database query would (usleep) and touches the services.
// php-fpm pays the bootstrap on every request; an rr worker pays it once.
declare(strict_types=1);

function app_boot(): array
{
    $dir = __DIR__ . '/classes';
    $services = [];
    for ($i = 0; $i < 300; $i++) {
        require_once "$dir/Service$i.php";
        $class = "Bench\\Service$i";
        $services[] = new $class();
    }
    // a fixed amount of work (≈10 ms of CPU on this machine kind), not a wall-clock
    // loop: under contention a deadline loop would do less work and flatter php-fpm
    $x = 0;
    for ($i = 0; $i < 210_000; $i++) {
        $x = crc32((string)$x);
    }
    return $services;
}

function app_handle(array $services): string
{
    usleep(1000);
    $n = 0;
    foreach ($services as $service) {
        $n += $service->value();
    }
    return "handled $n";
}

if (PHP_SAPI !== 'cli') {
    $services = app_boot();
    header('Content-Type: text/plain');
    echo app_handle($services);
    return;
}
require getenv('RR_PHP_LIB') . '/autoload.php';
$services = app_boot();
$http = RR\Http\HttpWorker::create();
while (($req = $http->waitRequest()) !== null) {
    $http->respond(200, app_handle($services), ['Content-Type' => ['text/plain']]);
}
