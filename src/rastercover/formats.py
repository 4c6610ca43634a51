"""The export formats: one table used by the Python API, the command line and the HTTP service.

Each row is a frozen :class:`Format`: its key, GDAL driver, file extension, media type, how it is delivered
(one file, or a zip with sidecars) and what it can hold (band counts, pixel types, rotated grids). The rules
here decide *before anything is written* whether an export can be encoded without loss; a format that
cannot hold the data is refused with the reason, never written as a garbage file. "Without loss" means as GDAL
reads the file back: the text formats carry decimals long enough that a reader parsing them as float64 gets
each float32 value itself, and the CRS goes where GDAL's driver looks for it (``.prj`` beside an ASCII grid,
``.aux.xml`` beside an XYZ, PNG or JPEG file). Each row's ``notes`` say what the format still loses.

=========  =======  =========  ================================================  =============================
key        driver   extension  media type                                        delivered as
=========  =======  =========  ================================================  =============================
gtiff      GTiff    .tif       image/tiff; application=geotiff                   one file (tiled, deflate)
cog        COG      .tif       image/tiff; application=geotiff;                  one file (with overviews)
                               profile=cloud-optimized
aaigrid    AAIGrid  .asc       application/zip                                   zip of ``.asc`` + ``.prj``
xyz        XYZ      .xyz       text/plain                                        one file; zip: + ``.aux.xml``
png        PNG      .png       image/png                                         one file; zip: + world file
jpeg       JPEG     .jpg       image/jpeg                                        one file; zip: + world file
netcdf     netCDF   .nc        application/x-netcdf                              one file
gpkg       GPKG     .gpkg      application/geopackage+sqlite3                    one file
=========  =======  =========  ================================================  =============================

Examples
--------
>>> from rastercover.formats import get_format, format_for_path
>>> get_format("aaigrid").driver, get_format("aaigrid").delivery_extension
('AAIGrid', '.zip')
>>> format_for_path("dem_clip.asc").key, format_for_path("relief.png.zip").key
('aaigrid', 'png')
>>> get_format("jpeg").fit_dtype("float32", vmin=0.0, vmax=254.0, integral=True, float32_exact=True,
...                              nodata=255.0)
(dtype('uint8'), 255.0, 'float32 values written as uint8 (every value fits)')
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np

from .errors import InputError, UnknownOptionError

__all__ = [
    "FORMATS",
    "Format",
    "available_formats",
    "driver_available",
    "format_for_path",
    "get_format",
    "missing_formats",
]


@dataclass(frozen=True, slots=True)
class Format:
    """One export format (a row of the formats table).

    Attributes
    ----------
    key
        The name users give (``--format KEY``, ``format=``).
    driver
        GDAL driver that encodes it.
    extension
        Extension of the data file (``.asc`` for an ASCII grid, even when it is delivered in a zip).
    media_type
        Media type of the format's default delivery (``Content-Type`` of a download): ``application/zip`` for
        a format delivered as a zip.
    zip_default
        Delivered as a zip (data file + sidecars) unless the output name ends in the data extension.
    embeds_crs
        The file itself stores the CRS; otherwise a ``.prj`` (ESRI WKT) goes beside it in a zip.
    world_file
        Extension of the world file written beside the image in a zip (``.pgw``), or None.
    band_counts
        Band counts the format can hold (None: any).
    dtypes
        Pixel types it can hold, in the order tried when the data must be converted (None: any).
    multiband_dtypes
        With more than one band, only these pixel types (None: same as ``dtypes``).
    north_up_only
        The format cannot store a rotated or skewed grid.
    lossy
        Values change slightly on encoding (JPEG).
    scaled
        Data no pixel type of the format holds exactly is scaled linearly to ``[1, 255]`` (0 is nodata) instead
        of being refused; the band's scale/offset record the map (JPEG, whose output is a picture anyway).
    holds_nodata
        The file can declare a nodata value (XYZ cannot: nodata pixels are lines with the nodata value).
    extra_extensions
        Other extensions accepted for the data file (``.tiff``, ``.jpeg``).
    notes
        What the format keeps and loses, in one line for ``rastercover formats``.
    file_media_type
        Media type of the bare data file when it differs from ``media_type`` (``text/plain`` for ``.asc``).
    reads_prj
        GDAL's driver reads the CRS from the ``.prj`` beside the data file (AAIGrid). A format that neither
        embeds its CRS nor reads a ``.prj`` gets it in a GDAL ``.aux.xml`` beside the data file in a zip (XYZ;
        PNG and JPEG, whose ``.aux.xml`` GDAL writes itself), the only sidecar its driver reads it from.
    min_size
        Fewest columns and rows GDAL can read the file back with (XYZ: 2, its reader infers the pixel size
        from the spacing of the points).
    keeps_class_names
        An export carries the coverage's class names (category names and attribute table) in a GDAL
        ``.aux.xml`` beside the data file (in the zip when zipped), which GDAL and QGIS read with it: formats
        that store exact values and whose driver writes no ``.aux.xml`` of its own.
    """

    key: str
    driver: str
    extension: str
    media_type: str
    zip_default: bool = False
    embeds_crs: bool = True
    world_file: str | None = None
    band_counts: tuple[int, ...] | None = None
    dtypes: tuple[str, ...] | None = None
    multiband_dtypes: tuple[str, ...] | None = None
    north_up_only: bool = False
    lossy: bool = False
    scaled: bool = False
    holds_nodata: bool = True
    extra_extensions: tuple[str, ...] = ()
    notes: str = ""
    file_media_type: str | None = None
    reads_prj: bool = False
    min_size: int = 1
    keeps_class_names: bool = False

    @property
    def extensions(self) -> tuple[str, ...]:
        """Every extension accepted for the data file, the main one first."""
        return (self.extension, *self.extra_extensions)

    @property
    def delivery_extension(self) -> str:
        """Extension of what a download holds: ``.zip`` for zip-delivered formats, else the data extension."""
        return ".zip" if self.zip_default else self.extension

    def media_type_of(self, filename: str) -> str:
        """Media type of an output of this format named ``filename`` (a ``.zip`` is ``application/zip``).

        Examples
        --------
        >>> get_format("png").media_type_of("relief.zip"), get_format("aaigrid").media_type_of("dem.asc")
        ('application/zip', 'text/plain')
        """
        if filename.lower().endswith(".zip"):
            return "application/zip"
        return self.file_media_type or self.media_type

    def check_layout(self, count: int, *, rectilinear: bool = True) -> None:
        """Refuse a band count or a grid orientation the format cannot hold.

        Raises
        ------
        InputError
            With the reason and what to do instead.

        Examples
        --------
        >>> get_format("aaigrid").check_layout(2)                       # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        rastercover.errors.InputError: aaigrid holds 1 band only, this export has 2: choose the bands with ...
        """
        if self.band_counts is not None and count not in self.band_counts:
            allowed = " or ".join(str(n) for n in self.band_counts)
            raise InputError(
                f"{self.key} holds {allowed} band{'s' if self.band_counts != (1,) else ''} only, this export has "
                f"{count}: choose the bands with --bands / bands= (e.g. --bands 1)"
            )
        if self.north_up_only and not rectilinear:
            raise InputError(
                f"{self.key} cannot hold a rotated or skewed grid; export as gtiff (or cog) to keep the transform"
            )

    def check_size(self, width: int, height: int) -> None:
        """Refuse a grid too small for GDAL to read the format back.

        Raises
        ------
        InputError
            With the reason and what to do instead.

        Examples
        --------
        >>> get_format("xyz").check_size(5, 1)                           # doctest: +NORMALIZE_WHITESPACE
        Traceback (most recent call last):
        ...
        rastercover.errors.InputError: xyz needs at least 2 columns and 2 rows (GDAL infers the pixel size from the
        spacing of the points), this export is 5x1 px: ask for a larger bbox or clip, or export as aaigrid or gtiff
        """
        if min(width, height) < self.min_size:
            raise InputError(
                f"{self.key} needs at least {self.min_size} columns and {self.min_size} rows (GDAL infers the pixel "
                f"size from the spacing of the points), this export is {width}x{height} px: ask for a larger bbox "
                "or clip, or export as aaigrid or gtiff"
            )

    def allowed_dtypes(self, count: int) -> tuple[str, ...] | None:
        """Pixel types the format holds with ``count`` bands (None: any)."""
        if count > 1 and self.multiband_dtypes is not None:
            return self.multiband_dtypes
        return self.dtypes

    def fit_dtype(
        self,
        dtype: np.dtype | str,
        *,
        vmin: float | None,
        vmax: float | None,
        integral: bool,
        float32_exact: bool,
        nodata: float | None,
        count: int = 1,
    ) -> tuple[np.dtype, float | None, str | None]:
        """The pixel type (and nodata) to write data of ``dtype`` in this format without changing a value.

        Parameters
        ----------
        dtype
            Pixel type of the data.
        vmin, vmax
            Smallest and largest valid (not nodata) value; None when there is none.
        integral
            Every valid value is a finite whole number.
        float32_exact
            Every valid value is exactly representable as float32.
        nodata
            The data's nodata value, or None.
        count
            Number of bands.

        Returns
        -------
        (dtype, nodata, note)
            ``note`` says what was converted (None when nothing was).

        Raises
        ------
        InputError
            When no pixel type of the format holds every value: the message says why and what to use.

        Examples
        --------
        >>> get_format("png").fit_dtype("float32", vmin=0.5, vmax=3.0, integral=False, float32_exact=True,
        ...                             nodata=None)                 # doctest: +NORMALIZE_WHITESPACE
        Traceback (most recent call last):
        ...
        rastercover.errors.InputError: png holds only uint8 or uint16 pixels and this float32 data has non-integer
        values (values range from 0.5 to 3); export it as gtiff, cog or netcdf instead
        """
        dtype = np.dtype(dtype)
        allowed = self.allowed_dtypes(count)
        if allowed is None or dtype.name in allowed:
            return dtype, nodata, None
        for name in allowed:
            target = np.dtype(name)
            if target.kind in "iu":
                info = np.iinfo(target)
                if not integral:
                    continue
                if vmin is not None and (vmin < info.min or vmax > info.max):
                    continue
                if nodata is None or (
                    not np.isnan(nodata) and float(nodata).is_integer() and info.min <= nodata <= info.max
                ):
                    return target, nodata, f"{dtype.name} values written as {target.name} (every value fits)"
                # the nodata value does not fit: use an end of the range that no valid value takes
                if vmax is None or vmax < info.max:
                    new = float(info.max)
                elif vmin > info.min:
                    new = float(info.min)
                else:
                    continue
                return (
                    target,
                    new,
                    f"{dtype.name} values written as {target.name} (every value fits); nodata {nodata:g} does not "
                    f"fit {target.name}, so pixels without data are {new:g}",
                )
            if target == np.float32 and float32_exact:
                if nodata is not None and not np.isnan(nodata) and float(np.float32(nodata)) != nodata:
                    continue
                return target, nodata, f"{dtype.name} values written as float32 (every value fits)"
            if target == np.float64 and dtype.kind in "iu":  # whole numbers: exact in float64 up to 2**53
                if any(v is not None and not np.isnan(v) and abs(v) >= _FLOAT64_EXACT for v in (vmin, vmax, nodata)):
                    continue
                return target, nodata, f"{dtype.name} values written as float64 (every value fits)"
        kinds = " or ".join(allowed)
        floats = [a for a in allowed if np.dtype(a).kind == "f"]
        if not integral and not floats:
            where = "" if vmin is None else f" (values range from {vmin:g} to {vmax:g})"
            why = f"has non-integer values{where}"
        elif vmin is None:
            why = f"has a nodata value ({nodata:g}) that none of them holds"
        elif floats == ["float32"] and not float32_exact:
            why = f"has values (from {vmin:g} to {vmax:g}) that float32 cannot all hold exactly"
        else:
            why = f"has values from {vmin:g} to {vmax:g}"
        multi = f" with {count} bands" if count > 1 and self.multiband_dtypes is not None else ""
        raise InputError(
            f"{self.key} holds only {kinds} pixels{multi} and this {dtype.name} data {why}; "
            "export it as gtiff, cog or netcdf instead"
        )


#: Largest magnitude up to which every whole number is exactly a float64.
_FLOAT64_EXACT = 2.0**53

#: Every format rastercover knows, in the order of the spec's table.
FORMATS: tuple[Format, ...] = (
    Format(
        "gtiff",
        "GTiff",
        ".tif",
        "image/tiff; application=geotiff",
        extra_extensions=(".tiff",),
        keeps_class_names=True,
        notes="exact values, CRS, nodata and band descriptions kept, class names in .aux.xml; tiled 256x256 (or the "
        "coverage's tiles), deflate",
    ),
    Format(
        "cog",
        "COG",
        ".tif",
        "image/tiff; application=geotiff; profile=cloud-optimized",
        extra_extensions=(".tiff",),
        keeps_class_names=True,
        notes="Cloud Optimized GeoTIFF: as gtiff, with internal overviews, deflate",
    ),
    Format(
        "aaigrid",
        "AAIGrid",
        ".asc",
        "application/zip",
        zip_default=True,
        file_media_type="text/plain",
        embeds_crs=False,
        reads_prj=True,
        keeps_class_names=True,
        band_counts=(1,),
        dtypes=("uint8", "int16", "uint16", "int32", "float32", "float64"),  # GDAL writes int8 as floats
        north_up_only=True,
        notes="ESRI ASCII grid, 1 band: a zip of .asc + .prj (the CRS, ESRI WKT); -o NAME.asc writes both side by "
        "side; decimals a float64 parse turns back into each value exactly; GDAL reads decimals as float32 "
        "unless AAIGRID_DATATYPE=Float64 (QGIS sets it); band description lost",
    ),
    Format(
        "xyz",
        "XYZ",
        ".xyz",
        "text/plain",
        embeds_crs=False,
        band_counts=(1,),
        dtypes=("uint8", "int16", "uint16", "int32", "float32"),  # GDAL writes other types as float32
        north_up_only=True,
        holds_nodata=False,
        min_size=2,
        notes="one 'x y value' line per pixel centre, exact as decimals, float64 only when float32 holds it; no "
        "nodata; the CRS only in a .zip output (.xyz.aux.xml, which GDAL reads, + .prj)",
    ),
    Format(
        "png",
        "PNG",
        ".png",
        "image/png",
        embeds_crs=False,
        world_file=".pgw",
        band_counts=(1, 2, 3, 4),
        dtypes=("uint8", "uint16"),
        notes="8/16-bit unsigned integers, exact; nodata kept (transparency); the CRS and position only in a .zip "
        "output (.png.aux.xml, which GDAL reads, + .pgw world file and .prj)",
    ),
    Format(
        "jpeg",
        "JPEG",
        ".jpg",
        "image/jpeg",
        embeds_crs=False,
        world_file=".jgw",
        band_counts=(1, 3),
        dtypes=("uint8",),
        lossy=True,
        scaled=True,
        extra_extensions=(".jpeg",),
        notes="8-bit, lossy; other data scaled to 1-255; nodata kept as the file's 1-bit mask (1 band only: 3 bands "
        "with pixels without data are refused); the CRS and position only in a .zip (.jpg.aux.xml + .jgw, .prj)",
    ),
    Format(
        "netcdf",
        "netCDF",
        ".nc",
        "application/x-netcdf",
        north_up_only=True,
        notes="netCDF-4, deflate: exact values, CRS and nodata kept, band descriptions lost (where the GDAL build "
        "has the driver)",
    ),
    Format(
        "gpkg",
        "GPKG",
        ".gpkg",
        "application/geopackage+sqlite3",
        band_counts=(1, 3),
        dtypes=("uint8", "uint16", "float32"),  # GDAL forces nodata -32768 on int16: those go as float32
        multiband_dtypes=("uint8",),
        north_up_only=True,
        notes="tiled raster in a GeoPackage (lossless tiles): exact values, CRS and nodata kept; 1 band of "
        "uint8/uint16/float32 (int16 goes as float32), or 3 of uint8",
    ),
)

_BY_KEY = {f.key: f for f in FORMATS}
_BY_EXTENSION = {
    ".tif": "gtiff",
    ".tiff": "gtiff",
    ".asc": "aaigrid",
    ".xyz": "xyz",
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".nc": "netcdf",
    ".gpkg": "gpkg",
}


def get_format(key: str | Format) -> Format:
    """The format named ``key`` (case-insensitive); a :class:`Format` is returned as is.

    Raises
    ------
    UnknownOptionError
        For an unknown key; the message lists the valid ones.

    Examples
    --------
    >>> get_format("GTiff").media_type
    'image/tiff; application=geotiff'
    >>> get_format("bmp")                                           # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    rastercover.errors.UnknownOptionError: unknown format 'bmp': choose one of gtiff, cog, aaigrid, xyz, png,
        jpeg, netcdf, gpkg
    """
    if isinstance(key, Format):
        return key
    fmt = _BY_KEY.get(str(key).strip().lower())
    if fmt is None:
        raise UnknownOptionError(f"unknown format {key!r}: choose one of {', '.join(_BY_KEY)}")
    return fmt


def format_for_path(path: str | os.PathLike) -> Format:
    """The format an output name asks for, from its extension.

    ``.tif`` means gtiff (ask for ``cog`` by key); ``NAME.png.zip`` means png in a zip; a bare ``.zip`` means
    aaigrid (the one format delivered as a zip by default).

    Raises
    ------
    UnknownOptionError
        When the extension names no format; the message lists the known extensions.

    Examples
    --------
    >>> format_for_path("out/relief.TIF").key, format_for_path("dem.zip").key
    ('gtiff', 'aaigrid')
    """
    name = os.path.basename(os.fspath(path)).lower()
    stem, ext = os.path.splitext(name)
    if ext == ".zip":
        inner = os.path.splitext(stem)[1]
        return _BY_KEY[_BY_EXTENSION.get(inner, "aaigrid")]
    key = _BY_EXTENSION.get(ext)
    if key is None:
        known = ", ".join(sorted({*_BY_EXTENSION, ".zip"}))
        raise UnknownOptionError(
            f"cannot tell the format of {os.fspath(path)!r} from its extension {ext or '(none)'}: "
            f"use one of {known}, or name the format (--format / format=)"
        )
    return _BY_KEY[key]


@functools.cache
def _gdal_drivers() -> frozenset[str]:
    import rasterio

    with rasterio.Env() as env:
        return frozenset(env.drivers())


def driver_available(fmt: str | Format) -> bool:
    """True when this GDAL build has the format's driver.

    Examples
    --------
    >>> driver_available("gtiff")
    True
    """
    return get_format(fmt).driver in _gdal_drivers()


def available_formats() -> tuple[Format, ...]:
    """The formats whose driver this GDAL build has, in table order.

    Examples
    --------
    >>> "gtiff" in [f.key for f in available_formats()]
    True
    """
    return tuple(f for f in FORMATS if driver_available(f))


def missing_formats() -> tuple[Format, ...]:
    """The formats whose driver this GDAL build lacks."""
    return tuple(f for f in FORMATS if not driver_available(f))
