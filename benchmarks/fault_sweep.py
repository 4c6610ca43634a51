"""Full-disk sweep: every output written onto small file systems of many sizes is right, or a clean error.

Not a timing benchmark: the evidence behind "a full disk gives the right file or one clear line, never a
plausible broken file" (issue 16), over more sizes than the test suite runs. Needs root (it mounts a tmpfs at
``--mount``). For each size (``--start``..``--stop`` KB by ``--step``) and each output (one GeoTIFF, a COG, a
tile folder written by 2 workers, a Zarr store, and exports to netCDF, COG and GeoTIFF) it runs the real
``rastercover`` command and classifies the result:

- ``right``: exit 0 and the output's pixels equal the reference's, bit for bit;
- ``clean error``: exit 2, exactly one line on stderr naming the output, and nothing left in the folder;
- anything else is ``BAD`` (counted at the end; the exit status is the count).

Run from the repository root::

    sudo .venv/bin/python benchmarks/fault_sweep.py            # 21 sizes x 7 outputs, about 6 minutes
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import rasterio

ALASKA = os.path.join("src", "rastercover", "data", "alaska")
JOB = [
    "rasterize", os.path.join(ALASKA, "trees.shp"), "--bounds", "-3000000", "1000000", "3000000", "7000000",
    "--resolution", "3000", "--crs", "EPSG:2964", "--value", "VEG_ID", "-m", "LAST_VALUE_AT_PIXEL_CENTROID",
    "-m", "COUNT_OF_VALUES_AT_PIXEL_CENTROID", "-m", "AREA_WEIGHTED_MEAN_OF_VALUES", "--tile-size", "256x256",
]  # fmt: skip


def _read(out: str) -> np.ndarray:
    if out.endswith(".zarr"):
        import xarray as xr

        with xr.open_dataarray(out, engine="zarr", mask_and_scale=False) as da:
            return da.values
    if os.path.isdir(out):
        out = os.path.join(out, "index.vrt")
    with rasterio.open(out) as ds:
        if ds.count == 0:  # netCDF: one variable per band
            return np.stack([rasterio.open(s).read(1) for s in ds.subdatasets])
        return ds.read()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=int, default=100, help="smallest file system, KB")
    parser.add_argument("--stop", type=int, default=6200, help="largest file system (excluded), KB")
    parser.add_argument("--step", type=int, default=300, help="KB between two sizes")
    parser.add_argument("--mount", default=None, help="where to mount the tmpfs (default: a new temporary folder)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        parser.error("needs root, to mount a small file system")
    exe = os.path.join(os.path.dirname(sys.executable), "rastercover")
    work = tempfile.mkdtemp(prefix="rc-sweep-")
    ref_path = os.path.join(work, "reference.tif")
    subprocess.run([exe, *JOB, "-o", ref_path], check=True, capture_output=True)
    with rasterio.open(ref_path) as ds:
        ref = ds.read()
    mount = args.mount or os.path.join(work, "disk")
    os.makedirs(mount, exist_ok=True)
    outputs = [
        ("r.tif", JOB), ("c.tif", [*JOB, "--cog"]), ("tiles", [*JOB, "--workers", "2"]), ("z.zarr", JOB),
        ("e.nc", ["export", ref_path]), ("ecog.tif", ["export", ref_path, "--format", "cog"]),
        ("e.tif", ["export", ref_path]),
    ]  # fmt: skip
    counts = {"right": 0, "clean error": 0, "BAD": 0}
    try:
        for kb in range(args.start, args.stop, args.step):
            for name, cmd in outputs:
                subprocess.run(["umount", mount], capture_output=True)
                subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kb}k", "tmpfs", mount], check=True)
                out = os.path.join(mount, name)
                p = subprocess.run([exe, *cmd, "-o", out], capture_output=True, text=True, timeout=600)
                lines = p.stderr.strip().splitlines()
                prefix = f"rastercover: error: {out}: "
                if p.returncode == 0:
                    verdict = "right" if np.array_equal(_read(out), ref, equal_nan=True) else "BAD"
                    detail = "" if verdict == "right" else "exit 0 over a wrong file"
                elif p.returncode == 2 and len(lines) == 1 and lines[0].startswith(prefix) and not os.listdir(mount):
                    verdict, detail = "clean error", lines[0][len(prefix) :]
                else:
                    verdict, detail = "BAD", f"exit {p.returncode}, left {os.listdir(mount)}: {p.stderr[-300:]!r}"
                counts[verdict] += 1
                print(f"{kb:>5} KB  {name:<9} {verdict:<12} {detail[:90]}", flush=True)
    finally:
        subprocess.run(["umount", mount], capture_output=True)
    print(", ".join(f"{v} {k}" for k, v in counts.items()))
    return counts["BAD"]


if __name__ == "__main__":
    sys.exit(main())
