"""OGC SensorThings API 1.1 (read part) at ``/sta/v1.1``."""
