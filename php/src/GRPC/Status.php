<?php

declare(strict_types=1);

namespace RR\GRPC;

use RR\Proto\Wire;

/**
 * google.rpc.Status {int32 code = 1; string message = 2; repeated Any details = 3}
 * with Any {string type_url = 1; bytes value = 2}, as the SDK packs it for the
 * `{"error": base64(Status)}` reply.
 */
final class Status
{
    /**
     * @param array<int, array{string, string}> $details [full proto name, serialized message]
     */
    public static function encode(int $code, string $message, array $details = []): string
    {
        $out = Wire::int(1, $code) . Wire::bytes(2, $message);
        foreach ($details as [$name, $value]) {
            $any = Wire::bytes(1, 'type.googleapis.com/' . $name) . Wire::bytes(2, $value);
            $out .= Wire::bytes(3, $any, true);
        }
        return $out;
    }
}
