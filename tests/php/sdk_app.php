<?php
/**
 * An HTTP app written the way the SDK README shows (waitRequest in a try, a catch block
 * that answers 500 and then reports the error), on the php/ library. Routes:
 *   /hello | /id?i=N (200 "id:N") | /pid | /env?name=X | /sleep?ms=N
 *   /rte?i=N  respond 500 "id:N", then $worker->error()   (the README catch block)
 *   /etr?i=N  $worker->error() first, then respond 500 "id:N"
 *   /stop?i=N respond 200 "id:N", then $worker->stop() and exit
 *   /crash    exit(1) mid-request
 */
declare(strict_types=1);

require __DIR__ . '/../../php/autoload.php';

use RR\Http\HttpWorker;
use RR\Worker;

$worker = Worker::create();
$http = new HttpWorker($worker);

while (true) {
    try {
        $req = $http->waitRequest();
        if ($req === null) {
            break;
        }
    } catch (\Throwable $e) {
        // README: a request that cannot be read gets a 400 and the loop goes on
        $http->respond(400, $e->getMessage());
        continue;
    }
    $id = (string)($req->query['i'] ?? '');
    try {
        switch ($req->getPath()) {
            case '/hello':
                $http->respond(200, 'hello');
                break;
            case '/id':
                $http->respond(200, "id:$id");
                break;
            case '/pid':
                $http->respond(200, (string)getmypid());
                break;
            case '/env':
                $http->respond(200, (string)getenv((string)$req->query['name']));
                break;
            case '/sleep':
                usleep((int)($req->query['ms'] ?? 100) * 1000);
                $http->respond(200, "id:$id");
                break;
            case '/rte':
                throw new \RuntimeException("failed $id");
            case '/etr':
                $worker->error("failed $id");
                $http->respond(500, "id:$id");
                break;
            case '/stop':
                $http->respond(200, "id:$id");
                $worker->stop();
                exit(0);
            case '/crash':
                exit(1);
            default:
                $http->respond(404, 'not found');
        }
    } catch (\Throwable $e) {
        $http->respond(500, "id:$id");
        $worker->error((string)$e);
    }
}
