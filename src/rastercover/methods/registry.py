"""The method registry: methods are data (name, contribution kind, needs value, empty result, reduction).

The engine computes each contribution kind once per block of tiles and feeds every requested method from
it. Adding a method takes a :class:`Method` and :func:`register`; a package can ship methods through the
``rastercover.methods`` entry point (a callable returning methods, a method, or an iterable of methods).

Examples
--------
>>> import numpy as np
>>> from rastercover.methods import Method, Kind, register, get_method
>>> def reduce_any(hits):
...     return (np.bincount(hits.pixel, minlength=hits.size) > 0).astype(float)
>>> m = register(Method("ANY_POLYGON_AT_PIXEL_CENTROID", Kind.CENTRE, reduce_any, needs_value=False,
...                     empty=0.0, description="1 where a polygon contains the centre, else 0"),
...              replace=True)
>>> get_method("any_polygon_at_pixel_centroid") is m
True
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..errors import InputError, UnknownMethodError

__all__ = [
    "AREA_QUALIFY",
    "EMPTY_NODATA",
    "Hits",
    "Kind",
    "Method",
    "MethodFamily",
    "available_methods",
    "class_label",
    "get_method",
    "register",
    "resolve_methods",
]

AREA_QUALIFY = 1e-9
"""A polygon qualifies for a pixel when its area there exceeds this fraction of the pixel area (spec 2)."""

EMPTY_NODATA = None
"""``Method.empty`` value meaning: a pixel with no contribution gets the band's nodata."""


class Kind(enum.Enum):
    """Kinds of per-(pixel, feature) contributions the engine can compute."""

    CENTRE = "centre"
    """The pixel centre lies inside the feature's polygonal part (spec section 2, centre rule); no weight."""
    AREA = "area"
    """Exact area (map units²) of the feature's polygonal part inside the pixel."""
    MERGED_AREA = "merged_area"
    """Per distinct non-NULL value: exact area of the union of that value's polygons inside the pixel.

    ``Hits.feature`` then indexes value groups: ``feature_value`` is the group's value and ``feature_order``
    the smallest layer order in the group."""
    COVER = "cover"
    """Area of the union of every polygon inside the pixel: one entry per pixel (feature 0, value NULL)."""
    LENGTH = "length"
    """Map-space length of the feature's linear part owned by the pixel (half-open ownership)."""
    POINT = "point"
    """The pixel owns at least one of the feature's points; weight: how many of them."""
    GEOMETRY = "geometry"
    """The feature qualifies in the pixel by area, length or point (spec section 2); no weight."""
    RASTER_CENTRE = "raster_centre"
    """Regridding (spec section 6): the source pixel owns the target pixel's centre; no weight."""
    RASTER_AREA = "raster_area"
    """Regridding: exact area (target map units²) of the source pixel inside the target pixel;
    ``Hits.feature_area`` holds each source pixel's whole area."""

    @property
    def raster(self) -> bool:
        """True for the kinds a raster source gives (regridding), False for a vector source's."""
        return self in (Kind.RASTER_CENTRE, Kind.RASTER_AREA)


class Hits:
    """Contributions of one kind over a block of pixels, handed to a method's reduction.

    Attributes
    ----------
    size
        Number of pixels of the block; results have this length (row-major).
    pixel, feature
        One entry per (pixel, feature) contribution: flat pixel index, feature index in the block.
    weight
        Per-contribution weight (areas, lengths), or None for kinds without one (centre hits).
    feature_value, feature_order
        Per-feature arrays: value (NaN for NULL) and order in the layer.
    pixel_area
        Area of one pixel in map units².
    feature_area
        Per feature, its whole area in map units² (raster sources: a source pixel's area in the target CRS), or
        None.
    """

    def __init__(
        self,
        size: int,
        pixel: np.ndarray,
        feature: np.ndarray,
        feature_value: np.ndarray,
        feature_order: np.ndarray,
        weight: np.ndarray | None = None,
        pixel_area: float = 1.0,
        feature_area: np.ndarray | None = None,
    ) -> None:
        self.size = size
        self.feature_area = feature_area
        self.pixel = pixel
        self.feature = feature
        self.weight = weight
        self.feature_value = feature_value
        self.feature_order = feature_order
        self.pixel_area = pixel_area

    @cached_property
    def value(self) -> np.ndarray:
        """Value of each contribution's feature (float64)."""
        return self.feature_value[self.feature]

    @cached_property
    def order(self) -> np.ndarray:
        """Layer order of each contribution's feature (int64)."""
        return self.feature_order[self.feature]

    def with_values(self) -> Hits:
        """Only the contributions whose feature has a non-NULL value."""
        return self.where(~np.isnan(self.value))

    def qualifying(self) -> Hits:
        """Only the contributions whose weight (an area) qualifies: ``> AREA_QUALIFY · pixel_area``."""
        if self.weight is None:
            return self
        if "_qualifying" not in self.__dict__:
            self.__dict__["_qualifying"] = self.where(self.weight > AREA_QUALIFY * self.pixel_area)
        return self.__dict__["_qualifying"]

    def where(self, keep: np.ndarray) -> Hits:
        """Only the contributions where ``keep`` is True."""
        if keep.all():
            return self
        out = Hits(
            self.size,
            self.pixel[keep],
            self.feature[keep],
            self.feature_value,
            self.feature_order,
            None if self.weight is None else self.weight[keep],
            self.pixel_area,
            self.feature_area,
        )
        out.__dict__["value"] = self.value[keep]
        return out


@dataclass(frozen=True)
class Method:
    """A per-pixel metric.

    Parameters
    ----------
    name
        Upper-case identifier, used as the band description.
    kind
        The contribution kind the reduction reads.
    reduce
        ``reduce(hits) -> ndarray`` of ``hits.size`` float64 results, NaN where the pixel has no result.
        Must be vectorised (numpy), and a module-level function so that it can travel to worker processes.
    needs_value
        True when the method reads the value column; its reduction then only sees non-NULL values.
    empty
        Result of a pixel with no contribution: a number (counts and sums: 0) or ``EMPTY_NODATA``.
    description
        One line for ``rastercover methods``.
    categorical
        True when results are class values (nearest-neighbour overviews), False for measurements.
    sums
        Optional, for :data:`Kind.RASTER_AREA` methods: the same result from area-weighted sums alone,
        ``sums(s) -> ndarray`` where ``s(x)`` gives, per target pixel, ``Σ a_i · x_i`` over the valid source
        pixels for any per-source-pixel ``x`` (``s.value``, ``s.whole``, ``s.pixel_area``, ``s.size`` as in
        :class:`Hits`; ``s.area`` the covered area per target pixel). Where the grids make overlaps products of
        1-D overlaps the engine computes those sums without listing the overlaps (much faster); elsewhere it calls
        ``reduce``.
    """

    name: str
    kind: Kind
    reduce: Callable[[Hits], np.ndarray]
    needs_value: bool = True
    empty: float | None = EMPTY_NODATA
    description: str = ""
    categorical: bool = False
    sums: Callable | None = None

    def __post_init__(self) -> None:
        if not self.name or self.name != self.name.strip() or " " in self.name:
            raise InputError(f"method name {self.name!r} must be a single word such as VALUE_OF_MERGED_MEDIAN")
        object.__setattr__(self, "name", self.name.upper())
        if not isinstance(self.kind, Kind):
            raise InputError(f"method {self.name}: kind must be one of {', '.join(k.name for k in Kind)}")


@dataclass(frozen=True)
class MethodFamily:
    """A method that makes one band per class value, e.g. ``COVERED_FRACTION_BY_VALUE``.

    Asked as ``NAME`` (one band per distinct non-NULL value of the layer, at most ``max_classes``) or
    ``NAME:v1,v2,...`` (the listed classes, in that order). Each band is the :class:`Method` that
    ``member(value)`` returns, named ``NAME:value``.
    """

    name: str
    kind: Kind
    member: Callable[[float], Method]
    needs_value: bool = True
    description: str = ""
    max_classes: int = 256

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", self.name.upper())

    def expand(self, classes: Sequence[float]) -> tuple[Method, ...]:
        """One method per class value."""
        return tuple(self.member(float(v)) for v in classes)


def class_label(value: float) -> str:
    """How a class value appears in a band name: ``3``, ``2.5``, ``-1e+20``."""
    return f"{value:.15g}"


_REGISTRY: dict[str, Method | MethodFamily] = {}
_PLUGINS_LOADED = False


def register(method: Method | MethodFamily, *, replace: bool = False) -> Method | MethodFamily:
    """Add a method to the registry and return it; a name already taken is an error unless ``replace``."""
    if not isinstance(method, Method | MethodFamily):
        raise InputError(f"register() takes a rastercover.methods.Method, got {type(method).__name__}")
    if method.name in _REGISTRY and not replace and _REGISTRY[method.name] is not method:
        raise InputError(f"a method named {method.name} is registered already; pass replace=True to override")
    _REGISTRY[method.name] = method
    return method


def _load_plugins() -> None:
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    _PLUGINS_LOADED = True
    from importlib.metadata import entry_points

    for ep in entry_points(group="rastercover.methods"):
        obj = ep.load()
        if callable(obj) and not isinstance(obj, Method | MethodFamily):
            obj = obj()
        items: Iterable = [obj] if isinstance(obj, Method | MethodFamily) else (obj or [])
        for m in items:
            register(m, replace=True)


def available_methods() -> dict[str, Method | MethodFamily]:
    """All registered methods by name, built-in and plug-in, sorted by name."""
    _load_plugins()
    return dict(sorted(_REGISTRY.items()))


def _lookup(name: str) -> Method | MethodFamily:
    _load_plugins()
    key = str(name).strip().upper()
    try:
        return _REGISTRY[key]
    except KeyError:
        close = difflib.get_close_matches(key, _REGISTRY, n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise UnknownMethodError(
            f"unknown method {name!r}{hint} (`rastercover methods` lists the {len(_REGISTRY)} methods)"
        ) from None


def get_method(name: str | Method) -> Method:
    """The method called ``name`` (case-insensitive).

    Raises
    ------
    UnknownMethodError
        With the closest registered names and a pointer to ``rastercover methods``.
    """
    if isinstance(name, Method):
        return name
    found = _lookup(name)
    if isinstance(found, MethodFamily):
        raise InputError(
            f"{found.name} makes one band per class: ask for it through rasterize(), or as "
            f"{found.name}:v1,v2 with explicit class values"
        )
    return found


def resolve_methods(
    specs: Sequence[str | Method], classes: Callable[[], Sequence[float]] | None = None
) -> list[Method]:
    """The methods (bands) asked for by ``specs``, families expanded into one method per class.

    Parameters
    ----------
    specs
        Method names, ``Method`` objects, or ``FAMILY`` / ``FAMILY:v1,v2,...`` for a :class:`MethodFamily`.
    classes
        Called (once) for the layer's distinct non-NULL values when a family is asked without classes.

    Examples
    --------
    >>> [m.name for m in resolve_methods(["sum_of_areas", "COVERED_FRACTION_BY_VALUE:2,1"])]
    ['SUM_OF_AREAS', 'COVERED_FRACTION_BY_VALUE:2', 'COVERED_FRACTION_BY_VALUE:1']
    """
    out: list[Method] = []
    for spec in specs:
        if isinstance(spec, Method):
            out.append(spec)
            continue
        name, colon, listed = str(spec).partition(":")
        found = _lookup(name)
        if isinstance(found, Method):
            if colon:
                raise InputError(f"{found.name} takes no class list (only one-band-per-class methods do)")
            out.append(found)
            continue
        if colon:
            try:
                values = [float(v) for v in listed.split(",") if v.strip()]
            except ValueError:
                raise InputError(f"{spec!r}: class values must be numbers, as in {found.name}:1,2,5") from None
            if not values:
                raise InputError(f"{spec!r}: list at least one class value, as in {found.name}:1,2,5")
        else:
            if classes is None:
                raise InputError(f"{found.name} needs the layer's classes: list them as {found.name}:v1,v2")
            values = sorted({float(v) for v in classes() if not np.isnan(v)})
            if len(values) > found.max_classes:
                raise InputError(
                    f"{found.name} would make {len(values)} bands (one per distinct value of the layer); "
                    f"list the classes you want as {found.name}:v1,v2,..."
                )
            if not values:
                raise InputError(f"{found.name}: the layer has no non-NULL value, so there is no class to make")
        out.extend(found.expand(values))
    return out
