<?php

declare(strict_types=1);

namespace RR\Jobs;

/**
 * A task built by Queue::create(), not yet sent; with*() return copies.
 */
final class PreparedTask
{
    /** @var array<string, list<string>> */
    private array $headers = [];

    public function __construct(
        public readonly string $name,
        public readonly string $payload,
        private Options $options,
    ) {
        foreach ($options->headers as $header => $values) {
            $this->headers[(string)$header] = \array_map('strval', \is_array($values) ? \array_values($values) : [$values]);
        }
    }

    public function getOptions(): Options
    {
        return $this->options;
    }

    /** @return array<string, list<string>> */
    public function getHeaders(): array
    {
        return $this->headers;
    }

    /** @param string|list<string> $value */
    public function withHeader(string $name, string|array $value): self
    {
        $copy = clone $this;
        $copy->headers[$name] = \array_map('strval', \is_array($value) ? \array_values($value) : [$value]);
        return $copy;
    }

    public function withDelay(int $seconds): self
    {
        return $this->withOptions(delay: $seconds);
    }

    public function withPriority(int $priority): self
    {
        return $this->withOptions(priority: $priority);
    }

    public function withAutoAck(bool $autoAck): self
    {
        return $this->withOptions(autoAck: $autoAck);
    }

    private function withOptions(?int $delay = null, ?int $priority = null, ?bool $autoAck = null): self
    {
        $o = $this->options;
        $copy = clone $this;
        $copy->options = new Options(
            $delay ?? $o->delay,
            $priority ?? $o->priority,
            $autoAck ?? $o->autoAck,
            $o->headers,
            $o->topic,
            $o->metadata,
            $o->offset,
            $o->partition,
        );
        return $copy;
    }
}
