<?php

declare(strict_types=1);

namespace RR\Metrics;

class MetricsException extends \RuntimeException
{
}
