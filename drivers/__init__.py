"""Broker drivers. Each module adapts one broker to rr.pipeline.driver.Driver."""

from rr.pipeline.driver import DriverFactory

DRIVERS: dict[str, DriverFactory] = {
    "memory": DriverFactory("rr.drivers.memory", "MemoryDriver"),
    "amqp": DriverFactory("rr.drivers.amqp", "AMQPDriver"),
    "kafka": DriverFactory("rr.drivers.kafka", "KafkaDriver"),
    "sqs": DriverFactory("rr.drivers.sqs", "SQSDriver"),
    "redis": DriverFactory("rr.drivers.redis", "RedisDriver"),
    "nats": DriverFactory("rr.drivers.nats", "NATSDriver"),
    "beanstalk": DriverFactory("rr.drivers.beanstalk", "BeanstalkDriver"),
}
