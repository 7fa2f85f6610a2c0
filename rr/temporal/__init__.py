"""The temporal plugin: PHP workflows and activities (temporal/sdk) on sdk-core."""
