<?php

declare(strict_types=1);

namespace RR\Services\DTO;

use RR\Proto\Message;
use RR\Proto\Wire;

/** service.v1.Create (exec_timeout in seconds; the map is upper-cased by the server). */
final class Create implements Message
{
    /** @param array<string, string> $env */
    public function __construct(
        public string $name = '',
        public string $command = '',
        public int $processNum = 1,
        public int $execTimeout = 0,
        public bool $remainAfterExit = false,
        public array $env = [],
        public int $restartSec = 30,
        public bool $serviceNameInLogs = false,
        public int $timeoutStopSec = 5,
    ) {
    }

    public function encode(): string
    {
        return Wire::bytes(1, $this->name) . Wire::bytes(2, $this->command)
            . Wire::int(3, $this->processNum) . Wire::int(4, $this->execTimeout)
            . Wire::bool(5, $this->remainAfterExit) . Wire::stringMap(6, $this->env)
            . Wire::int(7, $this->restartSec) . Wire::bool(8, $this->serviceNameInLogs)
            . Wire::int(9, $this->timeoutStopSec);
    }

    public static function decode(string $data): static
    {
        throw new \LogicException('Create is only sent');
    }
}
