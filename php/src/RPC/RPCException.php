<?php

declare(strict_types=1);

namespace RR\RPC;

/** The reply frame does not belong to the request (protocol error). */
class RPCException extends \RuntimeException
{
}
