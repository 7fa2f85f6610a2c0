<?php

declare(strict_types=1);

namespace RR\Lock;

/** Makes the owner id of a lock taken without one. */
interface LockIdGenerator
{
    public function generate(): string;
}
