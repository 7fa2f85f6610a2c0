<?php

declare(strict_types=1);

namespace RR\Centrifugo;

use RR\Goridge\Frame;
use RR\Proto\Reader;
use RR\Proto\Wire;
use RR\RPC\RPC;

/**
 * The `centrifuge.*` RPC methods (roadrunner-php/centrifugo's RPCCentrifugoApi), protobuf
 * codec. rr forwards them to Centrifugo, or answers them from its built-in hub.
 * A non-empty `error` in the reply throws, as the SDK's CentrifugoApiResponseException.
 */
final class CentrifugoApi
{
    private readonly RPC $rpc;

    public function __construct(RPC $rpc)
    {
        $this->rpc = $rpc->withCodec(Frame::CODEC_PROTO);
    }

    public static function fromEnvironment(): self
    {
        return new self(RPC::fromEnvironment());
    }

    /** @param array<string, string> $tags */
    public function publish(string $channel, string $message, bool $skipHistory = true, array $tags = []): string
    {
        return $this->call('Publish', Wire::bytes(1, $channel) . Wire::bytes(2, $message)
            . Wire::bool(4, $skipHistory) . Wire::stringMap(5, $tags));
    }

    /** @param list<string> $channels */
    public function broadcast(array $channels, string $message, bool $skipHistory = true): string
    {
        return $this->call('Broadcast', Wire::repeatedString(1, $channels) . Wire::bytes(2, $message)
            . Wire::bool(4, $skipHistory));
    }

    /** Closes the user's connections (one with $client) with code/reason (default 3503). */
    public function disconnect(string $user, string $client = '', int $code = 0, string $reason = ''): void
    {
        $disconnect = $code === 0 ? '' : Wire::bytes(2, Wire::int(1, $code) . Wire::bytes(2, $reason), true);
        $this->call('Disconnect', Wire::bytes(1, $user) . $disconnect . Wire::bytes(3, $client));
    }

    public function unsubscribe(string $channel, string $user, string $client = ''): void
    {
        $this->call('Unsubscribe', Wire::bytes(1, $channel) . Wire::bytes(2, $user) . Wire::bytes(3, $client));
    }

    /** @return array<string, array{user: string, client: string}> client id => info */
    public function presence(string $channel): array
    {
        $out = [];
        $result = new Reader($this->call('Presence', Wire::bytes(1, $channel)));
        while (!$result->eof()) {
            [$field, $wire] = $result->tag();
            if ($field !== 1) {
                $result->skip($wire);
                continue;
            }
            [$id, $info] = Reader::mapEntry($result->bytes());
            $out[$id] = self::clientInfo($info);
        }
        return $out;
    }

    /** @return array{num_clients: int, num_users: int} */
    public function presenceStats(string $channel): array
    {
        $stats = ['num_clients' => 0, 'num_users' => 0];
        $result = new Reader($this->call('PresenceStats', Wire::bytes(1, $channel)));
        while (!$result->eof()) {
            [$field, $wire] = $result->tag();
            match ($field) {
                1 => $stats['num_clients'] = $result->varint(),
                2 => $stats['num_users'] = $result->varint(),
                default => $result->skip($wire),
            };
        }
        return $stats;
    }

    /** Any method with a hand-encoded request; returns the raw `result` message. */
    public function call(string $method, string $request): string
    {
        $reply = new Reader((string)$this->rpc->call('centrifuge.' . $method, $request));
        $result = '';
        while (!$reply->eof()) {
            [$field, $wire] = $reply->tag();
            if ($field === 1 && $wire === Wire::LEN) {
                $error = self::error($reply->bytes());
                throw new \RuntimeException($error[1], $error[0]);
            }
            if ($field === 2 && $wire === Wire::LEN) {
                $result = $reply->bytes();
            } else {
                $reply->skip($wire);
            }
        }
        return $result;
    }

    /** @return array{int, string} */
    private static function error(string $data): array
    {
        $code = 0;
        $message = '';
        $r = new Reader($data);
        while (!$r->eof()) {
            [$field, $wire] = $r->tag();
            match ($field) {
                1 => $code = $r->varint(),
                2 => $message = $r->bytes(),
                default => $r->skip($wire),
            };
        }
        return [$code, $message];
    }

    /** @return array{user: string, client: string} */
    private static function clientInfo(string $data): array
    {
        $info = ['user' => '', 'client' => ''];
        $r = new Reader($data);
        while (!$r->eof()) {
            [$field, $wire] = $r->tag();
            match ($field) {
                1 => $info['user'] = $r->bytes(),
                2 => $info['client'] = $r->bytes(),
                default => $r->skip($wire),
            };
        }
        return $info;
    }
}
