"""The run engine: send jobs on APScheduler, retries, rate limit, recovery."""
