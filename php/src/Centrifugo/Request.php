<?php

declare(strict_types=1);

namespace RR\Centrifugo;

use RR\Payload;
use RR\Proto\Reader;
use RR\Proto\Wire;
use RR\Worker;

/**
 * One proxy event (connect, refresh, subscribe, publish, rpc, subrefresh). The proto
 * fields are exposed as public properties; `data` and `meta` are JSON-decoded into
 * arrays, as the SDK does. Answer exactly once with respond(), error() or disconnect().
 */
final class Request
{
    /** field number => [property, kind] per request type (common fields 1-4 first) */
    private const FIELDS = [
        'connect' => [10 => ['data', 'json'], 11 => ['b64data', 's'], 12 => ['name', 's'],
            13 => ['version', 's'], 14 => ['channels', 'list']],
        'refresh' => [10 => ['user', 's'], 11 => ['meta', 'json']],
        'subscribe' => [10 => ['user', 's'], 11 => ['channel', 's'], 12 => ['token', 's'],
            13 => ['meta', 'json'], 14 => ['data', 'json'], 15 => ['b64data', 's']],
        'publish' => [10 => ['user', 's'], 11 => ['channel', 's'], 12 => ['data', 'json'],
            13 => ['b64data', 's'], 14 => ['meta', 'json']],
        'rpc' => [10 => ['user', 's'], 11 => ['method', 's'], 12 => ['data', 'json'],
            13 => ['b64data', 's'], 14 => ['meta', 'json']],
        'subrefresh' => [10 => ['user', 's'], 11 => ['channel', 's'], 12 => ['meta', 'json']],
    ];
    private const COMMON = [1 => ['client', 's'], 2 => ['transport', 's'], 3 => ['protocol', 's'],
        4 => ['encoding', 's']];

    public string $client = '';
    public string $transport = '';
    public string $protocol = '';
    public string $encoding = '';
    public string $user = '';
    public string $channel = '';
    public string $method = '';
    public string $token = '';
    public string $name = '';
    public string $version = '';
    public string $b64data = '';
    public array $data = [];
    public array $meta = [];
    /** @var list<string> */
    public array $channels = [];
    private bool $answered = false;

    private function __construct(
        private readonly Worker $worker,
        public readonly string $type,
        public readonly array $headers,
    ) {
    }

    public static function decode(Worker $worker, string $type, array $headers, string $body): self
    {
        $request = new self($worker, $type, $headers);
        $fields = self::COMMON + (self::FIELDS[$type] ?? []);
        $reader = new Reader($body);
        while (!$reader->eof()) {
            [$field, $wire] = $reader->tag();
            if (!isset($fields[$field]) || $wire !== Wire::LEN) {
                $reader->skip($wire);
                continue;
            }
            [$property, $kind] = $fields[$field];
            $value = $reader->bytes();
            match ($kind) {
                'json' => $request->$property = $value === '' ? [] : (array)\json_decode($value, true, 512, \JSON_THROW_ON_ERROR),
                'list' => $request->$property[] = $value,
                default => $request->$property = $value,
            };
        }
        return $request;
    }

    public function isSupported(): bool
    {
        return isset(self::FIELDS[$this->type]);
    }

    /**
     * The result of the event. Keys by type (absent = unset):
     * connect: user, expire_at, info, data, channels, subs (channel => [expire_at, info, data]), meta;
     * refresh/subrefresh: expired, expire_at, info; subscribe: expire_at, info, data;
     * publish: data, skip_history; rpc: data.
     */
    public function respond(array $result = []): void
    {
        $out = match ($this->type) {
            'connect' => Wire::bytes(1, (string)($result['user'] ?? ''))
                . Wire::int(2, (int)($result['expire_at'] ?? 0))
                . self::json(3, $result['info'] ?? null)
                . self::json(5, $result['data'] ?? null)
                . Wire::repeatedString(7, $result['channels'] ?? [])
                . self::subs($result['subs'] ?? [])
                . self::json(9, $result['meta'] ?? null),
            'refresh', 'subrefresh' => Wire::bool(1, (bool)($result['expired'] ?? false))
                . Wire::int(2, (int)($result['expire_at'] ?? 0))
                . self::json(3, $result['info'] ?? null),
            'subscribe' => Wire::int(1, (int)($result['expire_at'] ?? 0))
                . self::json(2, $result['info'] ?? null)
                . self::json(4, $result['data'] ?? null),
            'publish' => self::json(1, $result['data'] ?? null)
                . Wire::bool(3, (bool)($result['skip_history'] ?? false)),
            'rpc' => Wire::bytes(1, \json_encode($result['data'] ?? [], \JSON_THROW_ON_ERROR), true),
            default => '',
        };
        $this->send(Wire::bytes(1, $out, true));
    }

    public function error(int $code, string $message, bool $temporary = false): void
    {
        $this->send(Wire::bytes(2, Wire::int(1, $code) . Wire::bytes(2, $message) . Wire::bool(3, $temporary), true));
    }

    public function disconnect(int $code, string $reason): void
    {
        $this->send(Wire::bytes(3, Wire::int(1, $code) . Wire::bytes(2, $reason), true));
    }

    private function send(string $body): void
    {
        if ($this->answered) {
            throw new \LogicException('the request was already answered');
        }
        $this->answered = true;
        $this->worker->respond(new Payload($body, ''));
    }

    private static function json(int $field, mixed $value): string
    {
        if ($value === null || $value === []) {
            return '';
        }
        return Wire::bytes($field, \json_encode($value, \JSON_THROW_ON_ERROR));
    }

    private static function subs(array $subs): string
    {
        $out = '';
        foreach ($subs as $channel => $options) {
            $value = Wire::int(1, (int)($options['expire_at'] ?? 0))
                . self::json(2, $options['info'] ?? null)
                . self::json(4, $options['data'] ?? null);
            $out .= Wire::bytes(8, Wire::bytes(1, (string)$channel) . Wire::bytes(2, $value, true), true);
        }
        return $out;
    }
}
