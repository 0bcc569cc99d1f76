"""xdeepr benchmark suites: ``python -m benchmarks [suite ...] [--quick] [--write FILE]``.

Suites: ``sampling`` (seconds per ensemble per time step, reduced and complete
domains, DeepR parity, linearity, GPU fast path), ``skill`` (CRPS against sampler
and steps), ``training`` (throughput, peak memory), ``dask`` (worker scaling),
``unet`` (one forward pass on the complete domain), ``tiling`` (tiled against
untiled sampling), ``profile`` (where a sampling step's time goes). Each prints a
markdown section; ``--write`` puts it between
``<!-- bench:SUITE:start -->`` and ``<!-- bench:SUITE:end -->`` in a file.
"""
