<?php

declare(strict_types=1);

namespace RR\Temporal;

use RR\RPC\RPC;

/**
 * What activity code may call while it runs (temporal/sdk's `Activity` facade):
 * its info, heartbeats through `temporal.RecordActivityHeartbeat`, async completion.
 */
final class Activity
{
    /** @var array<string, mixed> */
    public static array $info = [];
    /** @var list<mixed> */
    public static array $heartbeatDetails = [];
    public static bool $async = false;
    private static ?RPC $rpc = null;

    /** @return array<string, mixed> Go's activity.Info JSON */
    public static function getInfo(): array
    {
        return self::$info;
    }

    /** Throws ActivityCanceledException once Temporal wants the activity cancelled. */
    public static function heartbeat(mixed $details = null): void
    {
        self::$rpc ??= RPC::fromEnvironment();
        $payloads = Codec::encodePayloads([Converter::toPayload($details)]);
        $reply = self::$rpc->call('temporal.RecordActivityHeartbeat', [
            'taskToken' => self::$info['TaskToken'] ?? '',
            'details' => \base64_encode($payloads),
        ]);
        if (!empty($reply['canceled'])) {
            throw new ActivityCanceledException('activity canceled');
        }
    }

    /** The activity will be completed later by task token (ActivityCompletionClient). */
    public static function doNotCompleteOnReturn(): void
    {
        self::$async = true;
    }
}
