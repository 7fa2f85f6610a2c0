<?php

declare(strict_types=1);

namespace RR\GRPC\Exception;

use RR\GRPC\StatusCode;

/**
 * A gRPC error for the client: code, message and optional details (google.protobuf.Any
 * entries given as [full proto name, serialized message]).
 */
class GRPCException extends \RuntimeException
{
    protected const CODE = StatusCode::UNKNOWN;

    /** @var array<int, array{string, string}> */
    private array $details;

    /**
     * @param array<int, array{string, string}> $details
     */
    final public function __construct(string $message = '', ?int $code = null, array $details = [],
                                      ?\Throwable $previous = null)
    {
        parent::__construct($message, $code ?? static::CODE, $previous);
        $this->details = $details;
    }

    /**
     * @param array<int, array{string, string}> $details
     */
    public static function create(string $message, ?int $code = null, array $details = []): static
    {
        // like the SDK: create() without a code is UNKNOWN whatever the class
        return new static($message, $code ?? StatusCode::UNKNOWN, $details);
    }

    /** @return array<int, array{string, string}> */
    public function getDetails(): array
    {
        return $this->details;
    }
}
