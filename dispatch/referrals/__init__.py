"""Referrers' requests: submission, slots over the coming days, booking into the rounds."""
