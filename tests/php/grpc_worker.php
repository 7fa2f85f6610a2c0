<?php

/**
 * gRPC test service rc.test.v1.Test (tests/php/grpc/test.proto).
 *
 * Echo: "echo:<text>", n+1.  Meta: text = JSON of the request context, sets headers
 * (and trailers when n=1, the newer SDK form).  Fail: text selects the error path.
 * Sleep: sleeps n ms.  Crash: exits mid-call.  Big: a reply of n bytes.
 */

declare(strict_types=1);

require __DIR__ . '/../../php/autoload.php';

if (is_file(getcwd() . '/broken')) {  // lets a test leave the pool without live workers
    fwrite(STDERR, "refusing to start\n");
    exit(1);
}

use RR\GRPC\Context;
use RR\GRPC\Exception\GRPCException;
use RR\GRPC\Exception\NotFoundException;
use RR\GRPC\ResponseHeaders;
use RR\GRPC\ResponseTrailers;
use RR\GRPC\Server;
use RR\GRPC\StatusCode;
use RR\Payload;
use RR\Proto\Reader;
use RR\Proto\Wire;
use RR\Worker;

final class Msg implements \RR\Proto\Message
{
    public function __construct(public string $text = '', public int $n = 0)
    {
    }

    public function encode(): string
    {
        return Wire::bytes(1, $this->text) . Wire::int(2, $this->n);
    }

    public static function decode(string $data): static
    {
        $m = new static();
        $r = new Reader($data);
        while (!$r->eof()) {
            [$field, $type] = $r->tag();
            if ($field === 1 && $type === Wire::LEN) {
                $m->text = $r->bytes();
            } elseif ($field === 2 && $type === Wire::VARINT) {
                $m->n = $r->varint();
            } else {
                $r->skip($type);
            }
        }
        return $m;
    }
}

final class EmptyMessage implements \RR\Proto\Message
{
    public function encode(): string
    {
        return '';
    }

    public static function decode(string $data): static
    {
        return new static();
    }
}

final class TestService
{
    public function __construct(private readonly Worker $worker)
    {
    }

    public function Echo(Context $ctx, Msg $in): Msg
    {
        return new Msg('echo:' . $in->text, $in->n + 1);
    }

    public function Meta(Context $ctx, Msg $in): Msg
    {
        $values = $ctx->getValues();
        unset($values[ResponseHeaders::class], $values[ResponseTrailers::class]);
        $ctx->getValue(ResponseHeaders::class)->set('x-reply', 'r-' . ($values['x-token'][0] ?? ''));
        $ctx->getValue(ResponseHeaders::class)->set('X-Upper', 'upper');
        if ($in->n === 1) {
            $ctx->getValue(ResponseTrailers::class)->set('x-trailer', 't-1');
        }
        if ($in->n === 2) {
            $values['env'] = ['RR_MODE' => getenv('RR_MODE'), 'GRPC_TEST' => getenv('GRPC_TEST')];
        }
        return new Msg(json_encode($values, JSON_THROW_ON_ERROR));
    }

    public function Fail(Context $ctx, Msg $in): Msg
    {
        if ($in->text === 'stop-once') {
            return $this->stopOnce();
        }
        $detail = ['rc.test.v1.Msg', (new Msg('detail', 7))->encode()];
        match ($in->text) {
            'grpc' => throw new GRPCException('rc: denied', StatusCode::PERMISSION_DENIED),
            'details' => throw new GRPCException('rc: with details', StatusCode::INVALID_ARGUMENT, [$detail]),
            'notfound' => throw new NotFoundException('rc: nothing here'),
            'runtime' => throw new \RuntimeException('rc: plain failure'),
            'legacy' => throw new \RuntimeException('7|:|rc: legacy'),
            'legacy-zero' => throw new \RuntimeException('0|:|rc: zero'),
            'legacy-nan' => throw new \RuntimeException('x|:|rc: nan'),
            'code0' => throw new GRPCException('fine', StatusCode::OK),
            'trailers' => $this->errorWithTrailers($ctx),
            'badjson' => $this->raw('not json', 'x'),
            'nonstring' => $this->raw('{"a":1}', 'x'),
            'badb64' => $this->raw('{"error":"%%%"}', ''),
            'stream' => $this->streamReply(),
            'badheader' => $this->badHeader($ctx),
            default => throw new \LogicException('unknown failure ' . $in->text),
        };
        return new Msg('unreachable');
    }

    private function errorWithTrailers(Context $ctx): never
    {
        $ctx->getValue(ResponseHeaders::class)->set('x-h', 'h');
        $ctx->getValue(ResponseTrailers::class)->set('x-t', 't');
        throw new GRPCException('rc: with trailers', StatusCode::ABORTED);
    }

    private function badHeader(Context $ctx): never
    {
        $ctx->getValue(ResponseHeaders::class)->set('bad name', 'v');
        $ctx->getValue(ResponseHeaders::class)->set('x-good', 'ok');
        throw new GRPCException('rc: after headers', StatusCode::ABORTED);
    }

    /** Answers with a hand-made reply and makes the Server's own reply a no-op. */
    private function raw(string $header, string $body): never
    {
        $this->worker->respond(new Payload($body, $header));
        $this->worker->skip = true;
        throw new SkipReply();
    }

    /** The first worker to get this asks to be replaced; the call is retried elsewhere. */
    private function stopOnce(): Msg
    {
        $marker = getcwd() . '/stopped-once';
        if (!is_file($marker)) {
            file_put_contents($marker, (string)getmypid());
            $this->worker->stop();
            $this->worker->skip = true;
            throw new SkipReply();
        }
        return new Msg('answered by ' . getmypid());
    }

    private function streamReply(): never
    {
        $this->worker->respond(new Payload('chunk', '{}', false));
        $this->worker->skip = true;
        throw new SkipReply();
    }

    public function Sleep(Context $ctx, Msg $in): Msg
    {
        usleep($in->n * 1000);
        return new Msg('slept ' . $in->n . ' pid ' . getmypid());
    }

    public function Crash(Context $ctx, Msg $in): Msg
    {
        fwrite(STDERR, "crashing on purpose\n");
        exit(3);
    }

    public function Big(Context $ctx, Msg $in): Msg
    {
        return new Msg(str_repeat('b', $in->n), strlen($in->text));
    }

    public function Nothing(Context $ctx, EmptyMessage $in): EmptyMessage
    {
        return new EmptyMessage();
    }
}

final class SkipReply extends \Exception
{
}

/** Swallows the reply of a call whose method already answered by hand. */
final class OnceWorker extends Worker
{
    public bool $skip = false;

    public function respond(Payload $payload, ?int $codec = null): void
    {
        if (!$this->skip) {
            parent::respond($payload, $codec);
        }
    }

    public function error(string $message): void
    {
        if ($this->skip) {
            $this->skip = false;
            return;
        }
        parent::error($message);
    }
}

$worker = new OnceWorker(\RR\Goridge\Relay::create(\RR\Environment::fromGlobals()->getRelayAddress()));
$server = new Server();
$server->registerService('rc.test.v1.Test', new TestService($worker));
$server->serve($worker);
