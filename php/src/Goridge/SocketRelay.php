<?php

declare(strict_types=1);

namespace RR\Goridge;

/**
 * Frames over a TCP or unix socket (RR_RELAY=tcp://… / unix://…, and RPC).
 *
 * Connects lazily on first use with the SDK's retry policy: 11 attempts, 100 µs apart.
 */
final class SocketRelay extends Relay
{
    public const SOCK_TCP = 0;
    public const SOCK_UNIX = 1;
    public const RECONNECT_RETRIES = 10;
    public const RECONNECT_TIMEOUT_US = 100;

    /** @var resource|null */
    private $socket = null;

    public function __construct(
        private readonly string $address,
        private readonly ?int $port = null,
        private readonly int $type = self::SOCK_TCP,
    ) {
        if ($type === self::SOCK_TCP && $port === null) {
            throw new \InvalidArgumentException('no port given for a TCP socket');
        }
    }

    public function __toString(): string
    {
        return $this->type === self::SOCK_TCP
            ? "tcp://{$this->address}:{$this->port}"
            : "unix://{$this->address}";
    }

    public function isConnected(): bool
    {
        return $this->socket !== null;
    }

    public function connect(): void
    {
        if ($this->socket !== null) {
            return;
        }
        $target = $this->type === self::SOCK_TCP
            ? "tcp://{$this->address}:{$this->port}"
            : "unix://{$this->address}";
        for ($attempt = 0; $attempt <= self::RECONNECT_RETRIES; $attempt++) {
            $socket = @\stream_socket_client($target, $errno, $errstr, 5.0);
            if ($socket !== false) {
                \stream_set_timeout($socket, 86400 * 365);
                $this->socket = $socket;
                return;
            }
            \usleep(self::RECONNECT_TIMEOUT_US);
        }
        throw new RelayException("Unable to establish connection {$this}");
    }

    public function close(): void
    {
        if ($this->socket !== null) {
            \fclose($this->socket);
            $this->socket = null;
        }
    }

    public function __destruct()
    {
        $this->close();
    }

    public function waitFrame(): Frame
    {
        $this->connect();
        $header = $this->readExactly(Frame::HEADER_SIZE);
        $decoded = Frame::decodeHeader($header);
        $need = ($decoded['hl'] - 3) * 4 + $decoded['length'];
        return Frame::fromParts($decoded, $need > 0 ? $this->readExactly($need) : '');
    }

    public function send(Frame $frame): void
    {
        $this->connect();
        $data = Frame::encode($frame);
        while ($data !== '') {
            $written = @\fwrite($this->socket, $data);
            if ($written === false || $written === 0) {
                $this->close();
                throw new RelayException('Unable to write payload to the stream');
            }
            $data = (string)\substr($data, $written);
        }
    }

    public function hasFrame(): bool
    {
        $this->connect();
        $read = [$this->socket];
        $write = null;
        $except = null;
        return @\stream_select($read, $write, $except, 0, 0) > 0;
    }

    private function readExactly(int $length): string
    {
        $buffer = '';
        while (\strlen($buffer) < $length) {
            $chunk = @\fread($this->socket, $length - \strlen($buffer));
            if ($chunk === false || $chunk === '') {
                if (\feof($this->socket)) {
                    $this->close();
                    throw new HeaderException(
                        $buffer === '' && $length === Frame::HEADER_SIZE
                            ? 'Unable to read frame header: connection closed'
                            : 'Unable to read payload from the socket: connection closed'
                    );
                }
                continue;
            }
            $buffer .= $chunk;
        }
        return $buffer;
    }
}
