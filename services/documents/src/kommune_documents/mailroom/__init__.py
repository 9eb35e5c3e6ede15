"""The digital mailroom: scanned incoming post is read, routed to an inbox and filed."""
