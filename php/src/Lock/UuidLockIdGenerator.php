<?php

declare(strict_types=1);

namespace RR\Lock;

/** Random UUID v4 strings (the SDK uses ramsey/uuid; the format is the same). */
final class UuidLockIdGenerator implements LockIdGenerator
{
    public function generate(): string
    {
        $b = \random_bytes(16);
        $b[6] = \chr((\ord($b[6]) & 0x0F) | 0x40);
        $b[8] = \chr((\ord($b[8]) & 0x3F) | 0x80);
        return \vsprintf('%s%s-%s-%s-%s-%s%s%s', \str_split(\bin2hex($b), 4));
    }
}
