"""Render any QWidget or QGraphicsScene to PNG (size × scale), SVG or PDF (vectors).

pyqtgraph's own SVGExporter fails with PySide6 6.11/6.12 (pyqtgraph#3495), so scenes are
drawn with ``QGraphicsScene.render`` onto a ``QPainter`` over a ``QImage`` (PNG), a
``QSvgGenerator`` (SVG) or a ``QPdfWriter`` (PDF). Curves, contours, arrows, markers and text
stay vectors in SVG/PDF; images (the heatmap) are embedded as pictures.

How sizes work: ``size`` is the figure's size in logical pixels (the widget is laid out at
that size, so fonts and margins keep their proportions); ``scale`` multiplies the pixels of
a PNG only (``QImage.setDevicePixelRatio``). Cosmetic pens (pyqtgraph's default: widths in
device pixels) would come out ``scale`` times too thin, so while a PNG is painted their
widths are multiplied by ``scale`` (pyqtgraph#1455). SVG and PDF use one unit per logical
pixel (PDF at 96 dpi, so a 900-pixel-wide figure is 675 pt wide).

Use on widgets that are not on screen (or pass ``size=None`` to keep a visible widget's
size): :func:`prepare_widget` resizes the widget, shows it off screen if it was hidden and
delivers the posted layout events, without running timers or input (no ``processEvents``).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping
from xml.sax.saxutils import escape

import numpy as np
from PySide6.QtCore import (
    QBuffer, QByteArray, QCoreApplication, QIODevice, QLineF, QMarginsF, QPoint, QPointF, QRect,
    QRectF, QSize, QSizeF, Qt,
)
from PySide6.QtGui import (
    QBrush, QColor, QImage, QPageSize, QPainter, QPainterPath, QPdfWriter, QPen, QPolygonF,
    QRegion,
)
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QGraphicsScene, QGraphicsView, QWidget

from maml_gui.export import (
    CONFIG_KEY, IMAGE_FORMATS, SESSION_FORMAT, ExportError, check_size, export_format,
)
from maml_gui.signals import raise_if_interrupted

PDF_DPI = 96  # one logical pixel = 1/96 inch = 0.75 pt
CHUNK = 1 << 20  # bytes per write: a full disk shows up midway, not only at the end

Painter = Callable[[QPainter, QRectF], None]


# --- metadata -------------------------------------------------------------------------------

def config_metadata(config: Any, view: Any = None) -> dict[str, str]:
    """``{CONFIG_KEY: json}`` for a :class:`~maml_gui.core.config.Config` (or a config dict).

    With ``view`` (a :class:`~maml_gui.view.WindowState`, or its JSON) the JSON is a whole
    session document, ``{"format": "maml-gui-session", "config": {...}, "view": {...}}``,
    which every config reader accepts (it takes the ``config`` inside) and which
    ``maml-gui --session`` / ``maml-gui export --config`` use to redraw the same figure.
    """
    from maml_gui.core.config import SCHEMA_VERSION, Config, config_json

    data = config_json(config) if isinstance(config, Config) else dict(config)
    if view is not None:
        data = {"format": SESSION_FORMAT, "schema_version": SCHEMA_VERSION, "config": data,
                "view": view.to_json() if hasattr(view, "to_json") else dict(view)}
    return {CONFIG_KEY: json.dumps(data, separators=(",", ":"))}


def _xmp_packet(title: str, metadata: Mapping[str, str]) -> bytes:
    """An XMP packet with the title, the creator tool and maml-gui's keys (escaped XML)."""
    fields = "".join(
        f"   <maml:{_xml_name(key)}>{escape(value)}</maml:{_xml_name(key)}>\n"
        for key, value in metadata.items())
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
        ' xmlns:maml="https://github.com/maml-gui/ns/1.0/">\n'
        f'   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">{escape(title)}</rdf:li></rdf:Alt>'
        '</dc:title>\n'
        '   <xmp:CreatorTool>maml-gui</xmp:CreatorTool>\n'
        f'{fields}'
        '  </rdf:Description>\n'
        ' </rdf:RDF>\n'
        '</x:xmpmeta>\n'
        '<?xpacket end="w"?>'
    ).encode("utf-8")


def _xml_name(key: str) -> str:
    """``maml-gui-config`` → ``config`` (the XMP element name under the maml namespace)."""
    return "config" if key == CONFIG_KEY else "".join(c if c.isalnum() else "_" for c in key)


# --- preparing widgets ----------------------------------------------------------------------

def flush_layout() -> None:
    """Deliver posted events (layout requests, resizes) without running timers or input.

    Unlike ``processEvents`` this cannot re-enter a slot through user input or a timer.
    """
    for _ in range(3):
        QCoreApplication.sendPostedEvents()


def prepare_widget(widget: QWidget, size: tuple[int, int] | None = None) -> None:
    """Size ``widget``, show it (off screen when it is a hidden window) and lay it out.

    A widget that was never shown renders at 640×480 whatever it was resized to: this is
    the step that avoids it.
    """
    if size is not None:
        widget.resize(QSize(int(size[0]), int(size[1])))
    if not widget.isVisible() and widget.isWindow():
        widget.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
        widget.show()
    flush_layout()


@contextlib.contextmanager
def export_mode(scenes: list[QGraphicsScene], painter: QPainter | None = None,
                background: str | None = None) -> Iterator[None]:
    """pyqtgraph's export mode on every item: scatter symbols are drawn one by one as vector
    paths (not from the on-screen pixmap atlas), antialiasing on, and thick curves drawn as
    one continuous path (not pyqtgraph's separate segments: clean joins, one SVG element)."""
    items = [item for scene in scenes for item in scene.items() if hasattr(item, "setExportMode")]
    opts = {"antialias": True, "background": QColor(background or "#FFFFFF"),
            "painter": painter, "resolutionScale": 1.0}  # the image's pixel ratio does the scaling
    curves = [item for item in items if hasattr(item, "setSegmentedLineMode")]
    modes = [item.opts.get("segmentedLineMode", "auto") for item in curves]
    for item in items:
        item.setExportMode(True, opts)
    for item in curves:
        item.opts["segmentedLineMode"] = "off"  # no setter call: it would schedule a repaint
    try:
        yield
    finally:
        for item, mode in zip(curves, modes):
            item.opts["segmentedLineMode"] = mode
        for item in items:
            item.setExportMode(False)


@contextlib.contextmanager
def scaled_cosmetic_pens(scale: float) -> Iterator[None]:
    """Multiply the width of every cosmetic pen set on a QPainter by ``scale`` (a 2-pixel line
    stays 2 logical pixels wide at 4×). Python paint() code only, and only inside the block."""
    if scale == 1.0:
        yield
        return
    original = QPainter.setPen

    def set_pen(painter, *args):
        if len(args) == 1 and isinstance(args[0], QPen) and args[0].isCosmetic():
            pen = QPen(args[0])
            pen.setWidthF(max(pen.widthF(), 1.0) * scale)  # width 0 is a 1-pixel hairline
            return original(painter, pen)
        return original(painter, *args)

    QPainter.setPen = set_pen
    try:
        yield
    finally:
        QPainter.setPen = original


@contextlib.contextmanager
def baked_strokes() -> Iterator[None]:
    """Stroke paths in device coordinates, with plain (non-cosmetic) pens, inside the block.

    pyqtgraph draws curves in data units under the view's transform (a ×790 scale on a
    900-pixel plot) with cosmetic pens. QSvgGenerator writes that as a group transform plus
    ``vector-effect="non-scaling-stroke"``, which Chromium honours and librsvg/ImageMagick
    do not (blank or garbled plots). Mapping each path through the painter's transform first
    and drawing it untransformed gives ordinary SVG/PDF strokes that render the same
    everywhere. Python paint() code only (all of pyqtgraph's items), and only in the block.
    """
    originals = {name: getattr(QPainter, name) for name in ("drawPath", "drawPolyline",
                                                              "drawLines", "drawLine")}

    def stroke(painter: QPainter, path: QPainterPath) -> None:
        transform = painter.transform()
        pen = painter.pen()
        cosmetic = pen.isCosmetic()
        if transform.isIdentity() or not cosmetic or pen.style() == Qt.PenStyle.NoPen:
            originals["drawPath"](painter, path)
            return
        mapped = transform.map(path)
        flat = QPen(pen)
        flat.setCosmetic(False)
        if flat.widthF() == 0:
            flat.setWidthF(1.0)  # width 0 is a 1-pixel hairline
        painter.save()
        painter.resetTransform()
        painter.setPen(flat)
        if painter.brush().style() != Qt.BrushStyle.NoBrush:
            painter.setBrush(QBrush(painter.brush().color()))  # a gradient's transform is lost
        originals["drawPath"](painter, mapped)
        painter.restore()

    def draw_path(painter, path, *args):
        if args:  # drawPath(path, pen/brush overload): leave it to Qt
            return originals["drawPath"](painter, path, *args)
        stroke(painter, path)

    def draw_polyline(painter, *args):
        points = args[0] if len(args) == 1 else args
        if isinstance(points, QPolygonF):
            path = QPainterPath()
            path.addPolygon(points)
            return stroke(painter, path)
        return originals["drawPolyline"](painter, *args)

    def draw_lines(painter, *args):
        lines = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
        if lines and all(isinstance(line, QLineF) for line in lines):
            path = QPainterPath()
            for line in lines:
                path.moveTo(line.p1())
                path.lineTo(line.p2())
            return stroke(painter, path)
        return originals["drawLines"](painter, *args)

    def draw_line(painter, *args):
        if len(args) == 1 and isinstance(args[0], QLineF):
            line = args[0]
        elif len(args) == 2 and all(isinstance(a, QPointF) for a in args):
            line = QLineF(*args)
        elif len(args) == 4 and all(isinstance(a, (int, float)) for a in args):
            line = QLineF(*(float(a) for a in args))
        else:
            return originals["drawLine"](painter, *args)
        path = QPainterPath(line.p1())
        path.lineTo(line.p2())
        stroke(painter, path)

    replacements = {"drawPath": draw_path, "drawPolyline": draw_polyline,
                    "drawLines": draw_lines, "drawLine": draw_line}
    for name, function in replacements.items():
        setattr(QPainter, name, function)
    try:
        yield
    finally:
        for name, function in originals.items():
            setattr(QPainter, name, function)


# --- painting onto the three kinds of device ------------------------------------------------

def _begin(painter: QPainter) -> None:
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)


def raster_image(paint: Painter, size: tuple[int, int], scale: float = 1.0, *,
                 transparent: bool = False, background: str = "#FFFFFF",
                 scenes: list[QGraphicsScene] = ()) -> QImage:
    """Paint into a ``round(w·scale) × round(h·scale)`` image whose logical size is ``size``."""
    width, height = check_size(size, scale)
    image = QImage(round(width * scale), round(height * scale),
                   QImage.Format.Format_ARGB32_Premultiplied)
    image.setDevicePixelRatio(scale)
    # Painted at 96 dpi whatever the scale: the device pixel ratio alone does the scaling.
    # A higher dpi here doubles point-sized fonts on top of the ratio, and QPicture (which
    # pyqtgraph's axes replay) rescales by the dpi too, so ticks would leave their axis.
    _set_dpi(image, PDF_DPI)
    image.fill(QColor(0, 0, 0, 0) if transparent else QColor(background))
    painter = QPainter(image)
    try:
        _begin(painter)
        with export_mode(list(scenes), painter, background), scaled_cosmetic_pens(scale):
            paint(painter, QRectF(0, 0, width, height))
    finally:
        painter.end()
    raise_if_interrupted()
    # now that it is painted: 96 dpi per logical pixel, so a 2× PNG prints at the size of
    # the 1× one, twice as sharp
    _set_dpi(image, PDF_DPI * scale)
    return image


def _set_dpi(image: QImage, dpi: float) -> None:
    dots_per_metre = round(dpi / 0.0254)
    image.setDotsPerMeterX(dots_per_metre)
    image.setDotsPerMeterY(dots_per_metre)


def image_to_rgb(image: QImage) -> np.ndarray:
    """An ``(H, W, 3)`` uint8 copy of ``image``'s pixels."""
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    height, width, stride = rgb.height(), rgb.width(), rgb.bytesPerLine()
    buffer = np.frombuffer(rgb.constBits(), dtype=np.uint8, count=stride * height)
    return buffer.reshape(height, stride)[:, : width * 3].reshape(height, width, 3).copy()


def png_bytes(image: QImage, metadata: Mapping[str, str] | None = None) -> bytes:
    """``image`` encoded as PNG with ``metadata`` as tEXt chunks."""
    image = QImage(image)
    image.setDevicePixelRatio(1.0)
    image.setText("Software", "maml-gui")
    for key, value in (metadata or {}).items():
        image.setText(key, value)
    return _encode(lambda device: image.save(device, "PNG"), "PNG")


def svg_bytes(paint: Painter, size: tuple[int, int], *, title: str = "",
              metadata: Mapping[str, str] | None = None, transparent: bool = False,
              background: str = "#FFFFFF", scenes: list[QGraphicsScene] = ()) -> bytes:
    """An SVG document ``size`` logical pixels large (viewBox in the same units)."""
    width, height = check_size(size)
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    generator = QSvgGenerator()
    generator.setOutputDevice(buffer)
    generator.setSize(QSize(width, height))
    generator.setViewBox(QRect(0, 0, width, height))
    generator.setResolution(PDF_DPI)
    generator.setTitle(title or "maml-gui figure")
    description = (metadata or {}).get(CONFIG_KEY)
    if description:
        generator.setDescription(description)
    _paint_vector(generator, paint, width, height, transparent, background, scenes)
    buffer.close()
    return bytes(buffer.data())


def pdf_bytes(paint: Painter, size: tuple[int, int], *, title: str = "",
              metadata: Mapping[str, str] | None = None, background: str = "#FFFFFF",
              transparent: bool = False, scenes: list[QGraphicsScene] = ()) -> bytes:
    """A one-page PDF whose page is the figure (``size`` logical pixels at 96 dpi)."""
    width, height = check_size(size)
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setResolution(PDF_DPI)
    points = QSizeF(width * 72.0 / PDF_DPI, height * 72.0 / PDF_DPI)
    writer.setPageSize(QPageSize(points, QPageSize.Unit.Point, "maml-gui figure",
                                 QPageSize.SizeMatchPolicy.ExactMatch))
    writer.setPageMargins(QMarginsF(0, 0, 0, 0))
    writer.setTitle(title or "maml-gui figure")
    writer.setCreator("maml-gui")
    writer.setDocumentXmpMetadata(QByteArray(_xmp_packet(title or "maml-gui figure",
                                                         metadata or {})))
    _paint_vector(writer, paint, width, height, transparent, background, scenes)
    buffer.close()
    return bytes(buffer.data())


def _paint_vector(device, paint: Painter, width: int, height: int, transparent: bool,
                  background: str, scenes) -> None:
    painter = QPainter()
    if not painter.begin(device):
        raise OSError("Qt could not start painting the vector file")
    try:
        _begin(painter)
        if not transparent:
            painter.fillRect(QRectF(0, 0, width, height), QColor(background))
        with export_mode(list(scenes), painter, background), baked_strokes():
            paint(painter, QRectF(0, 0, width, height))
    finally:
        painter.end()
    raise_if_interrupted()


def _encode(save: Callable[[QIODevice], bool], what: str) -> bytes:
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not save(buffer):
        raise OSError(f"Qt could not encode the {what} image")
    buffer.close()
    return bytes(buffer.data())


def write_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path`` and rename it (no partial files)."""
    from maml_gui.core.io import AtomicPath

    with AtomicPath(path) as temp:
        with open(temp, "wb") as handle:
            for start in range(0, len(data), CHUNK):
                handle.write(data[start: start + CHUNK])
    return Path(path)


# --- the public entry points ----------------------------------------------------------------

def render_scene(scene: QGraphicsScene, path: str | Path, *, source: QRectF | None = None,
                 size: tuple[int, int] | None = None, scale: float = 1.0,
                 transparent: bool = False, background: str = "#FFFFFF", title: str = "",
                 metadata: Mapping[str, str] | None = None) -> Path:
    """Write ``source`` (a rectangle of ``scene``; default its scene rect) to ``path``.

    Parameters
    ----------
    scene : the scene to draw (e.g. ``plot_widget.scene()``).
    path : ``.png``, ``.svg`` or ``.pdf`` (from the extension).
    source : the scene rectangle to draw; default ``scene.sceneRect()``.
    size : output size in logical pixels (default: the source's size). The source is
        stretched to fill it, so keep the aspect ratio (or lay the scene out at this size).
    scale : PNG pixels per logical pixel (2 → a 2×-resolution PNG). Ignored by SVG/PDF.
    transparent : no background fill (PNG and SVG).
    background : the fill colour otherwise.
    title, metadata : the figure's title, and text keys embedded in the file (see
        :func:`config_metadata`).
    """
    flush_layout()
    source = QRectF(scene.sceneRect()) if source is None else QRectF(source)
    if size is None:
        size = (max(1, round(source.width())), max(1, round(source.height())))

    def paint(painter: QPainter, target: QRectF) -> None:
        scene.render(painter, target, source, Qt.AspectRatioMode.IgnoreAspectRatio)

    return write_image(paint, path, size, scale, transparent, background, title, metadata,
                       [scene])


def render_widget(widget: QWidget, path: str | Path, *, size: tuple[int, int] | None = None,
                  scale: float = 1.0, transparent: bool = False, background: str | None = None,
                  title: str = "", metadata: Mapping[str, str] | None = None) -> Path:
    """Write ``widget`` (laid out at ``size``, default its current size) to ``path``.

    A ``QGraphicsView`` (any pyqtgraph ``PlotWidget``/``GraphicsLayoutWidget``) is drawn
    through its scene, so its items stay vectors in SVG/PDF; any other widget is drawn with
    ``QWidget.render`` (child graphics views included). ``size`` resizes the widget, which
    works for a top-level widget (one made for the export, shown off screen here); a widget
    inside a window's layout keeps the layout's size (:class:`ExportError`): pass None to
    draw it as it is. See :func:`render_scene` for the rest.
    """
    if size is not None:
        size = check_size(size, scale)
        if not widget.isWindow() and (widget.width(), widget.height()) != size:
            raise ExportError(f"the {type(widget).__name__} is laid out at {widget.width()}x"
                              f"{widget.height()} by its parent, not {size[0]}x{size[1]}: "
                              "export a top-level (off-screen) widget, or pass size=None")
    prepare_widget(widget, size)
    size = (widget.width(), widget.height())
    paint, scenes, _ = widget_painter(widget, transparent)
    # pyqtgraph's axes measure their tick labels while painting and then ask for a new
    # layout: paint once unseen so that the written picture has the final geometry at
    # every scale (otherwise a colour bar's width depends on what was painted before)
    raster_image(paint, size, 1.0, scenes=scenes)
    flush_layout()
    paint, scenes, default_background = widget_painter(widget, transparent)
    return write_image(paint, path, size, scale, transparent, background or default_background,
                       title, metadata, scenes)


def widget_painter(widget: QWidget, transparent: bool = False
                   ) -> tuple[Painter, list[QGraphicsScene], str]:
    """How to paint ``widget`` into a rectangle: the painter function, the scenes it draws
    (for export mode) and the widget's own background colour."""
    if isinstance(widget, QGraphicsView):
        scene = widget.scene()
        viewport = widget.viewport()
        source = widget.mapToScene(viewport.rect()).boundingRect()
        colour = widget.backgroundBrush().color()
        if widget.backgroundBrush().style() == Qt.BrushStyle.NoBrush:
            colour = widget.palette().base().color()

        def paint(painter: QPainter, target: QRectF) -> None:
            scene.render(painter, target, source, Qt.AspectRatioMode.IgnoreAspectRatio)

        return paint, [scene], colour.name()

    flags = QWidget.RenderFlag.DrawChildren
    if not transparent:
        flags |= QWidget.RenderFlag.DrawWindowBackground
    scenes = [view.scene() for view in widget.findChildren(QGraphicsView) if view.scene()]

    def paint_widget(painter: QPainter, target: QRectF) -> None:
        painter.save()
        painter.scale(target.width() / max(widget.width(), 1),
                      target.height() / max(widget.height(), 1))
        widget.render(painter, QPoint(0, 0), QRegion(), flags)
        painter.restore()

    return paint_widget, scenes, widget.palette().window().color().name()


def render_rgb(paint: Painter, size: tuple[int, int], scale: float = 1.0, *,
               background: str = "#FFFFFF", scenes: list[QGraphicsScene] = ()) -> np.ndarray:
    """One frame as an ``(H, W, 3)`` uint8 array (for animations)."""
    return image_to_rgb(raster_image(paint, size, scale, background=background,
                                     scenes=list(scenes)))


def write_image(paint: Painter, path: str | Path, size: tuple[int, int], scale: float,
                transparent: bool, background: str, title: str,
                metadata: Mapping[str, str] | None, scenes: list[QGraphicsScene]) -> Path:
    """Paint with ``paint(painter, QRectF(0, 0, w, h))`` into ``path`` (.png/.svg/.pdf),
    atomically. ``scenes``: whose pyqtgraph items go into export mode meanwhile."""
    from maml_gui.core.io import check_writable

    fmt = export_format(path, IMAGE_FORMATS)
    check_writable(path)  # before the (possibly long) painting
    if transparent and fmt == "pdf":
        raise ExportError("a transparent background is available for PNG and SVG only")
    if fmt == "png":
        image = raster_image(paint, size, scale, transparent=transparent, background=background,
                             scenes=scenes)
        data = png_bytes(image, metadata)
    elif fmt == "svg":
        data = svg_bytes(paint, size, title=title, metadata=metadata, transparent=transparent,
                         background=background, scenes=scenes)
    else:
        data = pdf_bytes(paint, size, title=title, metadata=metadata, background=background,
                         scenes=scenes)
    return write_atomic(path, data)


__all__ = [
    "config_metadata", "export_mode", "flush_layout", "image_to_rgb", "pdf_bytes", "png_bytes",
    "prepare_widget", "raster_image", "render_rgb", "render_scene", "render_widget",
    "scaled_cosmetic_pens", "svg_bytes", "widget_painter", "write_atomic", "write_image",
]
