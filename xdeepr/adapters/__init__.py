"""Adapters: other tools' files read in xdeepr's terms.

- :mod:`.deepr`: DeepR's training configuration (``configuration_diffusion.yml``) as a
  :class:`~xdeepr.TrainConfig`, coverages and split.

Each adapter is its own package, so that the rest of xdeepr never depends on it.
"""
