<?php

declare(strict_types=1);

namespace RR\Services;

use RR\Goridge\Frame;
use RR\RPC\RPC;
use RR\RPC\ServiceException as RPCServiceException;
use RR\Services\DTO\Create;
use RR\Services\DTO\Reply;
use RR\Services\DTO\Service;

/**
 * Manage the service plugin's processes over RPC, as spiral/roadrunner-services'
 * Manager does: protobuf codec, method names service.*, the same defaults.
 */
final class Manager
{
    private readonly RPC $rpc;

    public function __construct(RPC $rpc)
    {
        $this->rpc = $rpc->withCodec(Frame::CODEC_PROTO);
    }

    /** @return list<string> names of every service (config and RPC-created) */
    public function list(): array
    {
        return Reply::decode($this->call('service.List', new Service()))->services;
    }

    /** @param array<string, string> $env */
    public function create(
        string $name,
        string $command,
        int $processNum = 1,
        int $execTimeout = 0,
        bool $remainAfterExit = false,
        array $env = [],
        int $restartSec = 30,
        bool $serviceNameInLogs = false,
        int $stopTimeout = 5,
    ): bool {
        \assert($processNum > 0 && $execTimeout >= 0 && $restartSec > 0 && $stopTimeout >= 0);
        $request = new Create($name, $command, $processNum, $execTimeout, $remainAfterExit, $env,
            $restartSec, $serviceNameInLogs, $stopTimeout);
        return Reply::decode($this->call('service.Create', $request))->ok;
    }

    public function restart(string $name): bool
    {
        return Reply::decode($this->call('service.Restart', new Service($name)))->ok;
    }

    public function terminate(string $name): bool
    {
        return Reply::decode($this->call('service.Terminate', new Service($name)))->ok;
    }

    /** @return list<array{cpu_percent: float, pid: int, memory_usage: int, command: string, error: ?array}> */
    public function statuses(string $name): array
    {
        return Reply::decodeStatuses($this->call('service.Statuses', new Service($name)))->statuses;
    }

    private function call(string $method, Create|Service $request): string
    {
        try {
            return (string)$this->rpc->call($method, $request);
        } catch (RPCServiceException $e) {
            throw new ServiceException(\str_replace(["\t", "\n"], ' ', $e->getMessage()), 0, $e);
        }
    }
}
