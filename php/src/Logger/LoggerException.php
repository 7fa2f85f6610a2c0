<?php

declare(strict_types=1);

namespace RR\Logger;

/** An app.* RPC failed; tabs and newlines of the server's text become spaces. */
class LoggerException extends \RuntimeException
{
}
