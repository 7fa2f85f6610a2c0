<?php

declare(strict_types=1);

namespace RR\Tcp;

/** The `event` key of a tcp request context (spiral/roadrunner-tcp's enum). */
enum TcpEvent: string
{
    case Connected = 'CONNECTED';
    case Data = 'DATA';
    case Close = 'CLOSE';
    case Unknown = 'UNKNOWN';
}
