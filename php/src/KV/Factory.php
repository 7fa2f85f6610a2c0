<?php

declare(strict_types=1);

namespace RR\KV;

use RR\RPC\RPC;

/** select() makes no RPC: the storage name is checked on the first call. */
final class Factory
{
    public function __construct(private readonly RPC $rpc)
    {
    }

    public function select(string $name): Cache
    {
        return new Cache($this->rpc, $name);
    }
}
