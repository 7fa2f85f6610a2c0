<?php

declare(strict_types=1);

namespace RR\Jobs;

class ReceivedTaskException extends JobsException
{
}
