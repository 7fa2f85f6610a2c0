<?php

declare(strict_types=1);

namespace RR\Temporal;

/**
 * A failure in Temporal's format (spec/temporal.md §9). Thrown by workflow code it
 * fails the workflow; any other exception fails the workflow task (Panic) and Temporal
 * retries it. Failures that came from Temporal keep their original bytes.
 */
class TemporalFailure extends \RuntimeException
{
    /** @var array<string, mixed>|null */
    public ?array $failure = null;

    /** @param array<string, mixed> $f */
    public static function fromFailure(array $f): self
    {
        $cause = $f['cause'] !== null ? self::fromFailure($f['cause']) : null;
        $e = match ($f['info']) {
            5 => new ApplicationFailure($f['message'], $f['type'], $f['non_retryable'],
                Converter::fromPayloads($f['details']), $cause),
            7 => new CanceledFailure($f['message'], $cause),
            11 => new ActivityFailure($f['message'], $cause),
            12 => new ChildWorkflowFailure($f['message'], $cause),
            6 => new TimeoutFailure($f['message'], $cause),
            default => new self($f['message'], 0, $cause),
        };
        $e->failure = $f;
        return $e;
    }

    /** @return array<string, mixed> */
    public static function toFailure(\Throwable $e): array
    {
        if ($e instanceof self && $e->failure !== null) {
            return $e->failure;
        }
        $f = ['message' => $e->getMessage(), 'source' => 'PHP_SDK',
              'stack_trace' => $e->getTraceAsString(),
              'cause' => $e->getPrevious() !== null ? self::toFailure($e->getPrevious()) : null];
        if ($e instanceof CanceledFailure || $e instanceof ActivityCanceledException) {
            return $f + ['info' => 7];
        }
        if ($e instanceof ApplicationFailure) {
            return $f + ['info' => 5, 'type' => $e->type, 'non_retryable' => $e->nonRetryable,
                         'details' => Converter::toPayloads($e->details)];
        }
        // anything else: application info typed by the PHP class, retryable
        return $f + ['info' => 5, 'type' => (new \ReflectionClass($e))->getShortName()];
    }
}
