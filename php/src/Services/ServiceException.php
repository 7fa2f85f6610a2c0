<?php

declare(strict_types=1);

namespace RR\Services;

/** Any failed service.* call; tabs and newlines of the server's text become spaces. */
class ServiceException extends \RuntimeException
{
}
