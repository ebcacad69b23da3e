"""What every process of the system shares: configuration from the environment, the payload
encryption codec, and logging with personal data redacted. No domain rules and no case I/O."""
