<?php

declare(strict_types=1);

namespace RR;

use RR\Goridge\Frame;
use RR\Goridge\Relay;

/**
 * The worker end of the RoadRunner worker protocol.
 *
 * waitPayload() answers the server's pid handshake itself and returns null on the stop
 * command, so a user loop is just `while ($p = $w->waitPayload()) { … respond … }`.
 */
class Worker
{
    private const STOP_CONTEXT = '{"stop":true}';

    /** Frames sent in the current streamed response (decides when to PING). */
    private int $streamFrames = 0;
    private bool $waitingPong = false;
    private bool $streamStopped = false;

    public function __construct(
        private readonly Relay $relay,
        bool $interceptSideEffects = true,
    ) {
        if ($interceptSideEffects) {
            self::interceptSideEffects();
        }
    }

    /**
     * A worker on the relay named by RR_RELAY (default: pipes).
     */
    public static function create(bool $interceptSideEffects = true, ?Environment $env = null): self
    {
        $env ??= Environment::fromGlobals();
        return new self(Relay::create($env->getRelayAddress()), $interceptSideEffects);
    }

    public function getRelay(): Relay
    {
        return $this->relay;
    }

    /**
     * Stdout belongs to the frame stream on pipes: any echo would corrupt it, so all
     * output (echo, print, warnings) goes to stderr, which the server logs.
     */
    private static function interceptSideEffects(): void
    {
        static $done = false;
        if ($done) {
            return;
        }
        $done = true;
        \ini_set('display_errors', 'stderr');
        \ob_start(static function (string $chunk): string {
            if ($chunk !== '') {
                \fwrite(\STDERR, $chunk);
            }
            return '';
        }, 1);
    }

    /**
     * The next request, or null when the server asks the worker to stop.
     */
    public function waitPayload(): ?Payload
    {
        while (true) {
            $frame = $this->relay->waitFrame();
            if ($frame->hasFlag(Frame::CONTROL)) {
                $command = \json_decode($frame->payload, true);
                if (\is_array($command) && !empty($command['stop'])) {
                    return null;
                }
                if (\is_array($command) && !empty($command['pid'])) {
                    $this->relay->send(new Frame(
                        \json_encode(['pid' => \getmypid()], \JSON_THROW_ON_ERROR),
                        [],
                        Frame::CONTROL,
                    ));
                    continue;
                }
                throw new RoadRunnerException('Invalid task header, undefined control package');
            }
            if ($frame->byte10 & (Frame::BYTE10_STOP | Frame::BYTE10_PONG)) {
                // A late PONG or STOP for a stream that already ended: nothing to do.
                $this->waitingPong = false;
                continue;
            }
            if ($frame->payload === '' && $frame->options === []) {
                // An empty data frame is the terminate signal.
                return null;
            }
            $offset = $frame->options[0] ?? 0;
            $this->streamFrames = 0;
            $this->waitingPong = false;
            $this->streamStopped = false;
            return new Payload(
                (string)\substr($frame->payload, $offset),
                (string)\substr($frame->payload, 0, $offset),
            );
        }
    }

    /**
     * Sends a response (or, with $payload->eos === false, one chunk of a stream).
     * $codec is the frame flag (0 like roadrunner-worker <= 3.4, or CODEC_JSON/PROTO).
     */
    public function respond(Payload $payload, ?int $codec = null): void
    {
        $byte10 = 0;
        if (!$payload->eos) {
            $byte10 |= Frame::BYTE10_STREAM;
            if ($this->relay->isPipes() && !$this->waitingPong
                && $this->streamFrames > 0 && $this->streamFrames % 5 === 0) {
                $byte10 |= Frame::BYTE10_PING;
                $this->waitingPong = true;
            }
            $this->streamFrames++;
        } else {
            $this->streamFrames = 0;
        }
        $this->relay->send(new Frame(
            $payload->header . $payload->body,
            [\strlen($payload->header)],
            $codec ?? 0,
            $byte10,
        ));
    }

    /**
     * True once the server has asked to cancel the current stream (STOP frame).
     *
     * On pipes the server's frames are only looked at while a PONG is outstanding,
     * as in the SDK; on sockets the relay is polled every time.
     */
    public function isStreamStopped(): bool
    {
        if ($this->streamStopped) {
            return true;
        }
        if ($this->relay->isPipes() && !$this->waitingPong) {
            return false;
        }
        while ($this->relay->hasFrame()) {
            $frame = $this->relay->waitFrame();
            if ($frame->byte10 & Frame::BYTE10_PONG) {
                $this->waitingPong = false;
            }
            if ($frame->byte10 & Frame::BYTE10_STOP) {
                $this->streamStopped = true;
                return true;
            }
            if ($this->relay->isPipes() && !$this->waitingPong) {
                break;
            }
        }
        return $this->streamStopped;
    }

    /**
     * Reports a failed request (soft error): the server fails the request and reuses
     * this worker.
     */
    public function error(string $message): void
    {
        $this->relay->send(new Frame($message, [], Frame::ERROR));
    }

    /**
     * Asks the server to replace this worker; the current request is retried elsewhere.
     */
    public function stop(): void
    {
        $this->respond(new Payload('', self::STOP_CONTEXT));
    }
}
