"""Hardware families, one sub-package each: ``systolic``, ``cim``, ``sve``."""
