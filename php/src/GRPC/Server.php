<?php

declare(strict_types=1);

namespace RR\GRPC;

use RR\GRPC\Exception\GRPCException;
use RR\GRPC\Exception\NotFoundException;
use RR\GRPC\Exception\ServiceException;
use RR\Payload;
use RR\Proto\Message;
use RR\Worker;

/**
 * The worker loop of a PHP gRPC service, speaking what spiral/roadrunner-grpc puts on
 * the wire: request context `{service, method, context}`, reply header `{}` / a flat
 * header map / `{"headers":…,"trailers":…}`, `{"error": base64(google.rpc.Status)}` for
 * a GRPCException, an ERROR frame with the message for any other exception.
 *
 * Messages are RR\Proto\Message classes (hand-written codecs) or, when the
 * google/protobuf library is installed, its generated classes (mergeFromString /
 * serializeToString), so services written for the SDK run here too.
 */
final class Server
{
    /** @var array<string, array<string, array{object, string, string}>> service → method → [impl, method, input class] */
    private array $services = [];

    /** @param array{debug?: bool} $options */
    public function __construct(private readonly array $options = [])
    {
    }

    /**
     * @param string $interface an interface with a NAME constant, or the service name itself
     */
    public function registerService(string $interface, object $service): void
    {
        $name = $interface;
        if (\interface_exists($interface) || \class_exists($interface)) {
            if (!\defined($interface . '::NAME')) {
                throw new ServiceException("Service interface `$interface` has no NAME constant");
            }
            if (!$service instanceof $interface) {
                throw new ServiceException("Service must implement `$interface`");
            }
            $name = (string)\constant($interface . '::NAME');
        }
        $methods = [];
        foreach ((new \ReflectionObject($service))->getMethods(\ReflectionMethod::IS_PUBLIC) as $m) {
            $input = self::inputClass($m);
            if ($input !== null) {
                $methods[$m->getName()] = [$service, $m->getName(), $input];
            }
        }
        $this->services[$name] = $methods;
    }

    /** The request message class of a `fn(ContextInterface $ctx, In $in): Out` method. */
    private static function inputClass(\ReflectionMethod $m): ?string
    {
        $params = $m->getParameters();
        if (\count($params) !== 2 || $m->isStatic() || $m->isConstructor()) {
            return null;
        }
        $type = $params[1]->getType();
        if (!$type instanceof \ReflectionNamedType || $type->isBuiltin()) {
            return null;
        }
        return $type->getName();
    }

    public function serve(?Worker $worker = null, ?callable $finalize = null): void
    {
        $worker ??= Worker::create();
        while ($request = $worker->waitPayload()) {
            $error = null;
            try {
                $this->handle($worker, $request);
            } catch (\Throwable $e) {
                $error = $e;
                $worker->error(!empty($this->options['debug']) ? (string)$e : $e->getMessage());
            } finally {
                if ($finalize !== null) {
                    $finalize($error);
                }
            }
        }
    }

    private function handle(Worker $worker, Payload $request): void
    {
        $call = \json_decode($request->header, true, 512, \JSON_THROW_ON_ERROR);
        $headers = new ResponseHeaders();
        $trailers = new ResponseTrailers();
        $ctx = new Context(($call['context'] ?? []) + [
            ResponseHeaders::class => $headers,
            ResponseTrailers::class => $trailers,
        ]);
        try {
            $body = $this->invoke((string)$call['service'], (string)$call['method'], $ctx, $request->body);
        } catch (GRPCException $e) {
            $status = Status::encode($e->getCode(), $e->getMessage(), $e->getDetails());
            $reply = ['error' => \base64_encode($status)];
            if (\count($headers) > 0 || \count($trailers) > 0) {
                $reply += ['headers' => $headers->packHeaders(), 'trailers' => $trailers->packHeaders()];
            }
            $worker->respond(new Payload('', \json_encode($reply, \JSON_THROW_ON_ERROR)));
            return;
        }
        $header = \count($trailers) > 0
            ? \json_encode(['headers' => $headers->packHeaders(), 'trailers' => $trailers->packHeaders()],
                \JSON_THROW_ON_ERROR)
            : $headers->packHeaders();
        $worker->respond(new Payload($body, $header));
    }

    private function invoke(string $service, string $method, Context $ctx, string $body): string
    {
        if (!isset($this->services[$service])) {
            throw new NotFoundException("Service `$service` not found.");
        }
        if (!isset($this->services[$service][$method])) {
            throw NotFoundException::create("Method `$method` not found in service `$service`.");
        }
        [$impl, $name, $input] = $this->services[$service][$method];
        try {
            $in = self::decode($input, $body);
        } catch (\Throwable $e) {
            throw GRPCException::create($e->getMessage(), StatusCode::INTERNAL);
        }
        $out = $impl->$name($ctx, $in);
        return \method_exists($out, 'serializeToString') ? $out->serializeToString() : $out->encode();
    }

    private static function decode(string $class, string $body): object
    {
        if (\method_exists($class, 'mergeFromString')) {
            $in = new $class();
            $in->mergeFromString($body);
            return $in;
        }
        if (\is_subclass_of($class, Message::class)) {
            return $class::decode($body);
        }
        throw new ServiceException("`$class` is not a protobuf message class");
    }
}
