<?php
// The same "hello" handler behind rr's gRPC plugin (RR_MODE=grpc: rr.example.echo.v1.Echo
// Ping answers "Hello, world!") and behind rr's HTTP plugin (any other mode).
declare(strict_types=1);

$lib = getenv('RR_PHP_LIB');
require $lib . '/autoload.php';

if (getenv('RR_MODE') === 'grpc') {
    require $lib . '/examples/grpc/EchoInterface.php';
    require $lib . '/examples/grpc/Message.php';

    $server = new RR\GRPC\Server();
    $server->registerService(Example\Echo\EchoInterface::class, new class implements Example\Echo\EchoInterface {
        public function Ping(RR\GRPC\Context $ctx, Example\Echo\Message $in): Example\Echo\Message
        {
            return new Example\Echo\Message('Hello, world!');
        }
    });
    $server->serve();
    return;
}

$http = RR\Http\HttpWorker::create();
while (($req = $http->waitRequest()) !== null) {
    $http->respond(200, 'Hello, world!', ['Content-Type' => ['text/plain']]);
}
