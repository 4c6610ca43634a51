"""Deliver: name the output, write its sidecars (``.prj``, world file, ``.aux.xml``), zip when asked, and move
everything to its final name at once; what was written (:class:`ExportResult`, :class:`ExportedFile`).

Examples
--------
>>> from rastercover.formats import get_format
>>> member_names("/data/dem.zip", get_format("aaigrid"), True)
('dem', '.asc')
"""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from affine import Affine

from ..crs import CRS, crs_label
from ..errors import InputError
from ..formats import Format, format_for_path, get_format
from ..grid import Grid
from ..io.atomic import SIDE_FILES, commit, discard
from ..protocols import RasterCoverage
from .encode import esri_wkt, pam_xml, world_file

__all__ = [
    "ExportResult",
    "ExportedFile",
    "coverage_name",
    "deliver",
    "first_line",
    "member_names",
    "resolve_output",
    "what",
    "write_zip",
]


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export` wrote.

    Attributes
    ----------
    path
        The output (the zip when the format was delivered as one).
    format
        Format key (``gtiff``, ``aaigrid``...).
    width, height
        Size in pixels.
    bands
        The coverage's bands written, 1-based.
    dtype
        Pixel type written.
    nodata
        Nodata value written (None when none).
    crs
        CRS of the output.
    transform
        Affine transform of the output (on the coverage's pixel grid).
    files
        Every file written: ``path`` first, then sidecars beside it (``.prj`` of an ``.asc``).
    members
        Names inside the zip, when ``path`` is one.
    notes
        What changed on the way (nodata chosen, values converted to a smaller type, lossy encoding).
    """

    path: str
    format: str
    width: int
    height: int
    bands: tuple[int, ...]
    dtype: str
    nodata: float | None
    crs: CRS | None = field(repr=False)
    transform: Affine = field(repr=False)
    files: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def __str__(self) -> str:
        how = ""
        if self.members:
            how = f" (zip of {', '.join(self.members)})"
        elif len(self.files) > 1:
            how = f" (+ {', '.join(os.path.basename(f) for f in self.files[1:])})"
        nodata = "no nodata" if self.nodata is None else f"nodata {self.nodata:g}"
        text = (
            f"{self.path}: {self.format}{how}, {self.width}x{self.height} px, {len(self.bands)} band(s) "
            f"{list(self.bands)} ({self.dtype}, {nodata}), {crs_label(self.crs)}"
        )
        return text + "".join(f"; {n}" for n in self.notes)


class ExportedFile(NamedTuple):
    """A file :func:`export_file` wrote for a download: where it is, the name to send it under, its media type.

    The caller owns ``path`` and deletes it: call :meth:`cleanup`, or use the object as a context manager
    (``with export_file(...) as f: ...`` deletes it on exit). It unpacks as ``path, filename, media_type``.
    """

    path: str
    filename: str
    media_type: str

    def cleanup(self) -> None:
        """Delete the file and the side files written with it (class names in ``PATH.aux.xml``, which a
        single-file download does not carry); no error when they are gone already."""
        for p in (self.path, *(self.path + side for side in SIDE_FILES)):
            discard(p)

    def __enter__(self) -> ExportedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def coverage_name(cov: RasterCoverage) -> str:
    """``<coverage>`` of an output name: the coverage's ``name`` (a file's stem, a table's name), made safe."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(cov.name or "")).strip("._") or "coverage"


def what(req: Any) -> str:
    """The ``[_clip|_bbox][_b1-2]`` part of an output's name."""
    parts = []
    if req.clipped:
        parts.append("clip")
    elif req.bbox is not None:
        parts.append("bbox")
    bands = req.bands
    if bands is not None:
        if isinstance(bands, str):
            numbers = [p for p in re.split(r"[,\s]+", bands.strip()) if p]
        elif isinstance(bands, int | np.integer):
            numbers = [str(int(bands))]
        else:
            numbers = [str(int(b)) for b in bands]
        parts.append("b" + "-".join(numbers))
    return "".join(f"_{p}" for p in parts)


def resolve_output(output: str, fmt: Format | None, name: str) -> tuple[str, Format, bool]:
    """Final path, format, and whether it is delivered as a zip."""
    if os.path.isdir(output):
        fmt = fmt or get_format("gtiff")
        return os.path.join(output, f"{name}{fmt.delivery_extension}"), fmt, fmt.zip_default
    lower = output.lower()
    if fmt is None:
        fmt = format_for_path(output)
    if lower.endswith(".zip"):
        return output, fmt, True
    if lower.endswith(fmt.extensions):
        return output, fmt, False
    ends = " or ".join((*fmt.extensions, ".zip"))
    raise InputError(f"{output}: a {fmt.key} output name ends in {ends}; rename it or pick another format")


def deliver(
    fmt: Format,
    main: str,
    tmpdir: str,
    stem: str,
    path: str,
    out_grid: Grid,
    zipped: bool,
    sidecar_prj: str | None,
    *,
    nodata: float | None = None,
    side_file: bool = False,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Write the sidecars, zip when asked, and move everything to its final name: ``(files, members)``.

    With ``side_file``, ``MAIN.aux.xml`` (the class names an export carries) goes with the data file: beside it
    as ``PATH.aux.xml``, or into the zip.

    A format that does not store its CRS gets a ``.prj`` (ESRI WKT: GDAL's AAIGrid driver reads it, and so do
    ESRI tools beside a world file). In a zip, a format whose GDAL driver reads no ``.prj`` (XYZ, PNG, JPEG) also
    gets the ``.aux.xml`` GDAL reads the CRS from: the one GDAL wrote beside a PNG or JPEG (CRS, transform, nodata,
    scale/offset), else one made here with the CRS and ``nodata`` (an XYZ file cannot declare nodata itself).
    """
    sidecars: dict[str, str] = {}  # member name -> path in tmpdir
    if out_grid.crs is not None and (not fmt.embeds_crs):
        prj = os.path.join(tmpdir, stem + ".prj")
        with open(prj, "w", encoding="utf-8") as f:
            f.write(esri_wkt(out_grid.crs))
        sidecars[stem + ".prj"] = prj
    if fmt.world_file and zipped:
        wld = os.path.join(tmpdir, stem + fmt.world_file)
        with open(wld, "w", encoding="ascii") as f:
            f.write(world_file(out_grid.transform))
        sidecars[stem + fmt.world_file] = wld
    if zipped and not fmt.embeds_crs and not fmt.reads_prj:
        aux = main + ".aux.xml"
        if not os.path.exists(aux) and (out_grid.crs is not None or nodata is not None):
            with open(aux, "w", encoding="utf-8") as f:
                f.write(pam_xml(out_grid.crs, nodata))
        if os.path.exists(aux):  # GDAL's reader finds the CRS of an XYZ, PNG or JPEG file only there
            sidecars[os.path.basename(aux)] = aux
    if side_file and zipped:
        sidecars[os.path.basename(main) + ".aux.xml"] = main + ".aux.xml"
    if zipped:
        packed = os.path.join(tmpdir, stem + ".zip")
        member_list = [os.path.basename(main), *sidecars]
        write_zip(packed, {os.path.basename(main): main, **sidecars})
        commit(packed, path)
        return (path,), tuple(member_list)
    commit(main, path, side_file=side_file)
    named = (path + ".aux.xml",) if side_file else ()
    if sidecar_prj:
        commit(sidecars[stem + ".prj"], sidecar_prj)
        return (path, sidecar_prj, *named), ()
    return (path, *named), ()


#: The date every zip member carries: the same request gives the same bytes, whenever it is made.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def write_zip(path: str, members: dict[str, str]) -> None:
    """Write the zip ``path`` holding ``members`` (name in the zip -> file), deflated, in the given order, each
    dated :data:`ZIP_DATE` so that the bytes depend on the contents only.

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> with open(os.path.join(d, "a.txt"), "w") as f:
    ...     _ = f.write("hello")
    >>> write_zip(os.path.join(d, "a.zip"), {"a.txt": os.path.join(d, "a.txt")})
    >>> zipfile.ZipFile(os.path.join(d, "a.zip")).infolist()[0].date_time
    (1980, 1, 1, 0, 0, 0)
    """
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, src in members.items():
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with open(src, "rb") as f, z.open(info, "w") as out:
                while chunk := f.read(1 << 20):
                    out.write(chunk)


def member_names(path: str, fmt: Format, zipped: bool) -> tuple[str, str]:
    """Stem and extension of the data file: ``dem.asc`` for ``dem.zip``, ``dem.asc.zip`` or ``dem.asc``."""
    base = os.path.basename(path)
    if not zipped:
        return os.path.splitext(base)
    base = base[:-4] if base.lower().endswith(".zip") else base
    for ext in fmt.extensions:
        if base.lower().endswith(ext) and len(base) > len(ext):
            base = base[: -len(ext)]
            break
    return base or "coverage", fmt.extension


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
