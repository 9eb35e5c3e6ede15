"""Open311 GeoReport v2 at ``/open311/v2``: damage reports from third-party apps."""
