<?php

declare(strict_types=1);

namespace RR\Http;

/**
 * Thrown into a streaming response generator when the server cancels the stream
 * (the HTTP client went away).
 */
final class StreamStoppedException extends \RuntimeException
{
    public function __construct()
    {
        parent::__construct('Stream has been stopped by the client.');
    }
}
