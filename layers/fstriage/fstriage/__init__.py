"""fstriage: turn Fullstory alerts into evidence.

`fstriage.core` is pure (no AWS, no network); `fstriage.adapters` alone touch boto3 or requests.
"""

__version__ = "0.1.0"
