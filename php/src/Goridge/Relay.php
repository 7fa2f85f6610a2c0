<?php

declare(strict_types=1);

namespace RR\Goridge;

/**
 * A byte stream carrying back-to-back goridge frames.
 *
 * Relay::create() accepts the same address strings as the SDK (RR_RELAY / RR_RPC):
 * `pipes`, `tcp://host:port`, `unix://path`, `pipes://in:out`.
 */
abstract class Relay implements \Stringable
{
    /** Like the SDK: host must be non-empty and free of ':', so IPv6 literals and tcp://:6001 fail. */
    private const ADDRESS_PATTERN = '/^(?P<protocol>[^:\/]+):\/\/(?P<arg1>[^:]+)(:(?P<arg2>[^:]+))?$/';

    abstract public function waitFrame(): Frame;

    abstract public function send(Frame $frame): void;

    /**
     * True when a frame (or at least its first byte) can be read without blocking.
     * Streaming responses use it to notice a STOP or PONG from the server.
     */
    abstract public function hasFrame(): bool;

    /** Pipes relays ping during streams; socket relays poll instead (SDK behaviour). */
    public function isPipes(): bool
    {
        return false;
    }

    public static function create(string $connection): self
    {
        if ($connection === 'pipes') {
            return new StreamRelay(\STDIN, \STDOUT);
        }
        if (!\preg_match(self::ADDRESS_PATTERN, $connection, $m)) {
            throw new RelayException("unsupported connection format `$connection`");
        }
        $protocol = \strtolower($m['protocol']);
        $arg2 = $m['arg2'] ?? '';
        switch ($protocol) {
            case 'pipes':
                $in = \fopen('php://' . $m['arg1'], 'rb');
                $out = \fopen('php://' . $arg2, 'wb');
                if ($in === false || $out === false) {
                    throw new RelayException("unable to open pipes `$connection`");
                }
                return new StreamRelay($in, $out);
            case 'tcp':
                if ($arg2 === '' || !\ctype_digit($arg2) || (int)$arg2 > 65535) {
                    throw new RelayException("unsupported connection format `$connection`: port required");
                }
                return new SocketRelay(\strtolower($m['arg1']), (int)$arg2, SocketRelay::SOCK_TCP);
            case 'unix':
                return new SocketRelay($m['arg1'], null, SocketRelay::SOCK_UNIX);
            default:
                throw new RelayException("unsupported connection format `$connection`");
        }
    }
}
