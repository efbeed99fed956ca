"""Background jobs of `safeship serve`: the scheduler, and what each job does (see docs/jobs.md)."""
