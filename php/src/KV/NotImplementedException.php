<?php

declare(strict_types=1);

namespace RR\KV;

class NotImplementedException extends KVException
{
}
