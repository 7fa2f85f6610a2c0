<?php

declare(strict_types=1);

namespace RR\KV;

class StorageException extends KVException
{
}
