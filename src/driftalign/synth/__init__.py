"""The synthetic chest X-ray world: structured truth, rendered images, reference reports and
seven simulated drifting teachers. Everything here is SYNTHETIC — a test bed, never clinical data."""
