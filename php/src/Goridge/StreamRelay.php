<?php

declare(strict_types=1);

namespace RR\Goridge;

/**
 * Frames over a pair of PHP streams (STDIN/STDOUT for RR_RELAY=pipes).
 *
 * The header is read with ONE fread of 12 bytes, as the SDK does: a server that splits
 * a header across two writes breaks real workers, and tests rely on this library to
 * show the same failure. Each frame is written with ONE fwrite call.
 *
 * A socket on stdin (a server that hands its workers socketpairs) is a PHP socket
 * stream, and default_socket_timeout (60 s) would end an idle worker's blocking read;
 * the relay lifts that timeout and keeps waiting, as on a pipe.
 */
final class StreamRelay extends Relay
{
    /**
     * @param resource $in
     * @param resource $out
     */
    public function __construct(private $in, private $out)
    {
        if (!\is_resource($in) || !\is_resource($out)) {
            throw new \InvalidArgumentException('expected stream resources');
        }
        // false (and harmless) for pipes and files, which have no read timeout
        @\stream_set_timeout($in, 86400 * 365);
    }

    public function waitFrame(): Frame
    {
        $header = \fread($this->in, Frame::HEADER_SIZE);
        while ($header === '' && $this->timedOut()) {
            $header = \fread($this->in, Frame::HEADER_SIZE);
        }
        if ($header === false || \strlen($header) !== Frame::HEADER_SIZE) {
            throw new HeaderException('Unable to read frame header: Incorrect header size');
        }
        $decoded = Frame::decodeHeader($header);
        $need = ($decoded['hl'] - 3) * 4 + $decoded['length'];
        $rest = '';
        while (\strlen($rest) < $need) {
            $chunk = \fread($this->in, $need - \strlen($rest));
            if ($chunk === false || $chunk === '') {
                if (\feof($this->in)) {
                    throw new RelayException('Unable to read payload from the stream');
                }
                continue;
            }
            $rest .= $chunk;
        }
        return Frame::fromParts($decoded, $rest);
    }

    private function timedOut(): bool
    {
        return (bool)(\stream_get_meta_data($this->in)['timed_out'] ?? false) && !\feof($this->in);
    }

    public function send(Frame $frame): void
    {
        $data = Frame::encode($frame);
        $written = \fwrite($this->out, $data);
        if ($written === false) {
            throw new RelayException('Unable to write payload to the stream');
        }
        // A blocking pipe normally takes everything at once; finish a short write anyway.
        while ($written < \strlen($data)) {
            $data = \substr($data, $written);
            $written = \fwrite($this->out, $data);
            if ($written === false || $written === 0) {
                throw new RelayException('Unable to write payload to the stream');
            }
        }
        \fflush($this->out);
    }

    public function hasFrame(): bool
    {
        $read = [$this->in];
        $write = null;
        $except = null;
        return @\stream_select($read, $write, $except, 0, 0) > 0;
    }

    public function isPipes(): bool
    {
        return true;
    }

    public function __toString(): string
    {
        return 'pipes';
    }
}
