<?php

declare(strict_types=1);

namespace RR\Proto;

class DecodeException extends \RuntimeException
{
}
