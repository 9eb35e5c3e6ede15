"""Events: CloudEvents envelope, transactional outbox and its relay, consumer runner with inbox."""
