"""What every Haven process shares: settings, the signed actor context, domain errors, the
database and outbox helpers, and the hardened Nameko extensions. Not a service."""
