<?php

declare(strict_types=1);

namespace RR\Goridge;

class HeaderException extends RelayException
{
}
