"""Broker drivers. Each module adapts one broker to rr.pipeline.driver.Driver."""

from rr.pipeline.driver import DriverFactory

DRIVERS: dict[str, DriverFactory] = {
    "memory": DriverFactory("drivers.memory", "MemoryDriver"),
    "amqp": DriverFactory("drivers.amqp", "AMQPDriver"),
    "kafka": DriverFactory("drivers.kafka", "KafkaDriver"),
    "sqs": DriverFactory("drivers.sqs", "SQSDriver"),
    "redis": DriverFactory("drivers.redis", "RedisDriver"),
}
