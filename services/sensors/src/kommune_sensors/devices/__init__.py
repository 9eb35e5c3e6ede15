"""The device registry: things, their locations, sensors, observed properties, datastreams, keys."""
