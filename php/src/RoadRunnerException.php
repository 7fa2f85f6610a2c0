<?php

declare(strict_types=1);

namespace RR;

class RoadRunnerException extends \RuntimeException
{
}
