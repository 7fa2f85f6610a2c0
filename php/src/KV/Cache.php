<?php

declare(strict_types=1);

namespace RR\KV;

use RR\Goridge\Frame;
use RR\KV\DTO\Item;
use RR\KV\DTO\Request;
use RR\KV\DTO\Response;
use RR\RPC\RPC;
use RR\RPC\ServiceException;

/**
 * PSR-16-shaped cache over kv.* RPC (protobuf codec). Values are PHP serialize()d on
 * the client; the server stores the bytes as given. TTLs travel as absolute RFC 3339
 * UTC times without fractional seconds.
 */
final class Cache
{
    private const TTL_FORMAT = 'Y-m-d\TH:i:sP';

    private readonly RPC $rpc;

    public function __construct(RPC $rpc, private readonly string $name)
    {
        $this->rpc = $rpc->withCodec(Frame::CODEC_PROTO);
    }

    public function getName(): string
    {
        return $this->name;
    }

    public function get(string $key, mixed $default = null): mixed
    {
        foreach ($this->getMultiple([$key], $default) as $value) {
            return $value;
        }
        return $default;
    }

    /**
     * @param iterable<string> $keys
     * @return array<string, mixed>
     */
    public function getMultiple(iterable $keys, mixed $default = null): array
    {
        $keys = self::keys($keys);
        $found = [];
        foreach ($this->call('kv.MGet', $keys)->items as $item) {
            $found[$item->key] = $item->value;
        }
        $result = [];
        foreach ($keys as $key) {
            $result[$key] = \array_key_exists($key, $found) ? self::unserialize($found[$key]) : $default;
        }
        return $result;
    }

    public function set(string $key, mixed $value, null|int|\DateInterval $ttl = null): bool
    {
        return $this->setMultiple([$key => $value], $ttl);
    }

    /** @param iterable<string, mixed> $values */
    public function setMultiple(iterable $values, null|int|\DateInterval $ttl = null): bool
    {
        $timeout = self::timeout($ttl);
        $items = [];
        foreach ($values as $key => $value) {
            if (!\is_string($key)) {
                throw new \InvalidArgumentException('Cache key must be a string, ' . \get_debug_type($key) . ' given');
            }
            $items[] = new Item($key, \serialize($value), $timeout);
        }
        $this->request('kv.Set', new Request($this->name, $items));
        return true;
    }

    public function has(string $key): bool
    {
        foreach ($this->call('kv.Has', [$key])->items as $item) {
            if ($item->key === $key) {
                return true;
            }
        }
        return false;
    }

    public function delete(string $key): bool
    {
        return $this->deleteMultiple([$key]);
    }

    /** @param iterable<string> $keys */
    public function deleteMultiple(iterable $keys): bool
    {
        $this->call('kv.Delete', self::keys($keys));
        return true;
    }

    public function clear(): bool
    {
        $this->request('kv.Clear', new Request($this->name));
        return true;
    }

    /** The absolute expiry of a key, or null when it has none (or does not exist). */
    public function getTtl(string $key): ?\DateTimeInterface
    {
        foreach ($this->getMultipleTtl([$key]) as $ttl) {
            return $ttl;
        }
        return null;
    }

    /**
     * @param iterable<string> $keys
     * @return array<string, \DateTimeInterface|null>
     */
    public function getMultipleTtl(iterable $keys): array
    {
        $keys = self::keys($keys);
        $found = [];
        foreach ($this->call('kv.TTL', $keys)->items as $item) {
            if ($item->timeout !== '') {
                $found[$item->key] = \DateTimeImmutable::createFromFormat(\DATE_RFC3339, $item->timeout) ?: null;
            }
        }
        $result = [];
        foreach ($keys as $key) {
            $result[$key] = $found[$key] ?? null;
        }
        return $result;
    }

    /** @param list<string> $keys */
    private function call(string $method, array $keys): Response
    {
        return $this->request($method, new Request($this->name, \array_map(static fn(string $k): Item => new Item($k), $keys)));
    }

    private function request(string $method, Request $request): Response
    {
        try {
            $response = $this->rpc->call($method, $request, Response::class);
        } catch (ServiceException $e) {
            $message = \str_replace(["\t", "\n"], ' ', $e->getMessage());
            if (\str_contains($message, 'no such storage')) {
                throw new StorageException(\sprintf('Storage "%s" has not been defined: %s', $this->name, $message), 0, $e);
            }
            if (\str_contains($message, '_plugin_ttl')) {
                throw new NotImplementedException("Storage \"{$this->name}\" does not support kv.TTL: $message", 0, $e);
            }
            if (\str_contains($message, "can't find method kv.Clear")) {
                throw new KVException('RoadRunner does not support kv.Clear; update the server', 0, $e);
            }
            throw new KVException($message, 0, $e);
        }
        \assert($response instanceof Response);
        return $response;
    }

    /**
     * @param iterable<mixed> $keys
     * @return list<string>
     */
    private static function keys(iterable $keys): array
    {
        $out = [];
        foreach ($keys as $key) {
            if (!\is_string($key)) {
                throw new \InvalidArgumentException('Cache key must be a string, ' . \get_debug_type($key) . ' given');
            }
            $out[] = $key;
        }
        return $out;
    }

    private static function timeout(null|int|\DateInterval $ttl): string
    {
        if ($ttl === null) {
            return '';
        }
        $now = new \DateTimeImmutable('now', new \DateTimeZone('UTC'));
        $expires = \is_int($ttl) ? $now->modify(\sprintf('%+d seconds', $ttl)) : $now->add($ttl);
        return $expires->format(self::TTL_FORMAT);
    }

    private static function unserialize(string $value): mixed
    {
        return match ($value) {
            'N;' => null,
            'b:0;' => false,
            'b:1;' => true,
            default => \unserialize($value, ['allowed_classes' => true]),
        };
    }
}
