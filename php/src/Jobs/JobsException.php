<?php

declare(strict_types=1);

namespace RR\Jobs;

class JobsException extends \RuntimeException
{
}
