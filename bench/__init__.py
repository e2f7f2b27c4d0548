"""The benchmark: the product as deployed against the baselines it is measured by (issue 7)."""
