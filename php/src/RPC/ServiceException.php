<?php

declare(strict_types=1);

namespace RR\RPC;

/** The server answered with an error frame; the message carries its text. */
class ServiceException extends RPCException
{
}
