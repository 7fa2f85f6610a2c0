<?php

declare(strict_types=1);

namespace RR\Temporal;

/** Thrown by ActivityContext::heartbeat() once Temporal asked to cancel the activity. */
final class ActivityCanceledException extends \RuntimeException
{
}
