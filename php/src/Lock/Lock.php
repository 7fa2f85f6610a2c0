<?php

declare(strict_types=1);

namespace RR\Lock;

use RR\Goridge\Frame;
use RR\Lock\DTO\Request;
use RR\Lock\DTO\Response;
use RR\RPC\RPC;

/**
 * rr's lock plugin over lock.* RPC (protobuf), as roadrunner-php/lock sends it. Times
 * are seconds (int/float) or a DateInterval and travel as microseconds; lock() and
 * lockRead() always send both ttl and wait (0: no expiry / the server's 1 ms wait).
 *
 * Unlike the SDK, a DateInterval counts in full: the SDK reads only its seconds
 * component, so PT1M would be sent as 0 there.
 */
final class Lock
{
    private readonly RPC $rpc;
    private readonly LockIdGenerator $ids;

    public function __construct(RPC $rpc, ?LockIdGenerator $ids = null)
    {
        $this->rpc = $rpc->withCodec(Frame::CODEC_PROTO);
        $this->ids = $ids ?? new UuidLockIdGenerator();
    }

    /** The owner id when the exclusive lock was taken before the wait ran out, else false. */
    public function lock(
        string $resource,
        ?string $id = null,
        int|float|\DateInterval $ttl = 0,
        int|float|\DateInterval $waitTTL = 0,
    ): string|false {
        return $this->take('lock.Lock', $resource, $id, $ttl, $waitTTL);
    }

    /** The owner id when a shared lock was taken before the wait ran out, else false. */
    public function lockRead(
        string $resource,
        ?string $id = null,
        int|float|\DateInterval $ttl = 0,
        int|float|\DateInterval $waitTTL = 0,
    ): string|false {
        return $this->take('lock.LockRead', $resource, $id, $ttl, $waitTTL);
    }

    public function release(string $resource, string $id): bool
    {
        return $this->ok('lock.Release', new Request($resource, $id));
    }

    /** Drops every lock of the resource, whoever holds it. */
    public function forceRelease(string $resource): bool
    {
        return $this->ok('lock.ForceRelease', new Request($resource));
    }

    /** Without an id: whether anyone holds the resource. */
    public function exists(string $resource, ?string $id = null): bool
    {
        return $this->ok('lock.Exists', new Request($resource, $id ?? '*'));
    }

    /** The lock's expiry becomes now + $ttl (0: none). */
    public function updateTTL(string $resource, string $id, int|float|\DateInterval $ttl): bool
    {
        return $this->ok('lock.UpdateTTL', new Request($resource, $id, self::micros($ttl)));
    }

    private function take(
        string $method,
        string $resource,
        ?string $id,
        int|float|\DateInterval $ttl,
        int|float|\DateInterval $wait,
    ): string|false {
        $id ??= $this->ids->generate();
        $request = new Request($resource, $id, self::micros($ttl), self::micros($wait));
        return $this->ok($method, $request) ? $id : false;
    }

    private function ok(string $method, Request $request): bool
    {
        $response = $this->rpc->call($method, $request, Response::class);
        \assert($response instanceof Response);
        return $response->ok;
    }

    private static function micros(int|float|\DateInterval $time): int
    {
        if ($time instanceof \DateInterval) {
            $from = new \DateTimeImmutable('@0');
            $time = $from->add($time)->getTimestamp() + (float)$time->f;
        }
        return (int)\round($time * 1_000_000);
    }
}
