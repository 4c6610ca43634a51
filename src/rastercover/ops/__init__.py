"""The export's operations, one module each, on a coverage given (never a location: the verbs open it).

- :mod:`~rastercover.ops.piece`: bands, bbox window, clip geometry (buffer, envelope, reprojection);
- :mod:`~rastercover.ops.mosaic`: the piece read chunk by chunk, masked by the clip;
- :mod:`~rastercover.ops.warp`: the output grid of a warp and each warped chunk;
- :mod:`~rastercover.ops.encode`: chunks into a GeoTIFF, then the format's driver;
- :mod:`~rastercover.ops.deliver`: names, sidecars, zip, the move to the final name.

:func:`rastercover.exporting.plan_export` chains them into a plan, :func:`rastercover.exporting.run_export` runs it.
"""
