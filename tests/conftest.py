"""Test-wide settings.

Hypothesis runs derandomized by default, so that CI sees the same examples on
every run; `HYPOTHESIS_PROFILE=explore pytest` searches with fresh random
examples (and more of them) when hunting for new failures.
"""

import os

from hypothesis import settings

settings.register_profile("default", derandomize=True, deadline=None)
settings.register_profile("explore", derandomize=False, deadline=None, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
