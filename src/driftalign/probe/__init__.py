"""Probes that measure ceilings independent of the student: what the pixels carry (`pixel`)."""
