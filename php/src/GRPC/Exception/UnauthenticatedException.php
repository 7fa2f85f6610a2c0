<?php

declare(strict_types=1);

namespace RR\GRPC\Exception;

use RR\GRPC\StatusCode;

class UnauthenticatedException extends GRPCException
{
    protected const CODE = StatusCode::UNAUTHENTICATED;
}
