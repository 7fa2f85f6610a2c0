<?php

declare(strict_types=1);

namespace RR\Jobs;

class SerializationException extends JobsException
{
}
