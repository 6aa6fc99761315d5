"""`make bench`: performance ratios against baselines measured in the same run."""
