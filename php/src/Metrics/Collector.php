<?php

declare(strict_types=1);

namespace RR\Metrics;

/** The `collector` object of metrics.Declare (rpc-and-cli.md §5.3). */
final class Collector implements \JsonSerializable
{
    /**
     * @param list<string> $labels
     * @param list<float> $buckets
     * @param array<string, float> $objectives
     */
    private function __construct(
        public readonly string $type,
        public readonly string $namespace = '',
        public readonly string $subsystem = '',
        public readonly string $help = '',
        public readonly array $labels = [],
        public readonly array $buckets = [],
        public readonly array $objectives = [],
    ) {
    }

    public static function counter(): self
    {
        return new self('counter');
    }

    public static function gauge(): self
    {
        return new self('gauge');
    }

    /** @param float ...$buckets */
    public static function histogram(float ...$buckets): self
    {
        return new self('histogram', buckets: \array_values($buckets));
    }

    /** @param array<string, float> $objectives quantile => error, e.g. ['0.5' => 0.05] */
    public static function summary(array $objectives = []): self
    {
        return new self('summary', objectives: $objectives);
    }

    public function withNamespace(string $namespace): self
    {
        return $this->with(['namespace' => $namespace]);
    }

    public function withSubsystem(string $subsystem): self
    {
        return $this->with(['subsystem' => $subsystem]);
    }

    public function withHelp(string $help): self
    {
        return $this->with(['help' => $help]);
    }

    public function withLabels(string ...$labels): self
    {
        return $this->with(['labels' => \array_values($labels)]);
    }

    /** @return array<string, mixed> */
    public function jsonSerialize(): array
    {
        $data = [
            'namespace' => $this->namespace,
            'subsystem' => $this->subsystem,
            'type' => $this->type,
            'help' => $this->help,
            'labels' => $this->labels,
            'buckets' => $this->buckets,
        ];
        if ($this->objectives !== []) {
            $objectives = [];
            foreach ($this->objectives as $quantile => $error) {
                $objectives[(string)$quantile] = $error;
            }
            $data['objectives'] = $objectives;
        }
        return $data;
    }

    /** @param array<string, mixed> $changes */
    private function with(array $changes): self
    {
        $args = [
            'type' => $this->type, 'namespace' => $this->namespace, 'subsystem' => $this->subsystem,
            'help' => $this->help, 'labels' => $this->labels, 'buckets' => $this->buckets,
            'objectives' => $this->objectives,
        ];
        return new self(...\array_merge($args, $changes));
    }
}
