<?php

declare(strict_types=1);

namespace RR\Tcp;

/** The command word a worker answers with; it travels as the reply's context. */
enum TcpResponse: string
{
    case Close = 'CLOSE';
    case Respond = 'WRITE';
    case RespondClose = 'WRITECLOSE';
    case Read = 'CONTINUE';
}
