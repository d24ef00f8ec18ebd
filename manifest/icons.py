"""Regenerate the app icons: `python -m manifest.icons` rewrites manifest/color.png and manifest/outline.png.

The symbol is two chat bubbles joined by a link to a record (a document with fields): chats connected to a CRM
record. It is drawn once, as geometry on a 100-unit grid, at 16x the final size and then box-filtered down, so
edges are anti-aliased without the ringing a sharper filter would add.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from manifest.config import ACCENT_COLOR as ACCENT

HERE = Path(__file__).resolve().parent
OVERSAMPLE = 16


Ink = str | int  # a colour for RGB drawing, a coverage level for the outline's mask


@dataclass(frozen=True)
class Palette:
    """Fill of each part of the symbol; `hole` is whatever is cut out of a shape (background showing through)."""
    bubble_front: Ink
    bubble_back: Ink
    record: Ink
    link: Ink
    fold: Ink
    hole: Ink


COLOR = Palette(bubble_front="#FFFFFF", bubble_back="#8FDDEB", record="#FFFFFF", link="#FFC24D", fold="#C9E6EE",
                hole=ACCENT)
# The outline icon is a coverage mask: 255 = white glyph, 0 = transparent.
OUTLINE = Palette(bubble_front=255, bubble_back=255, record=255, link=255, fold=255, hole=0)


def draw_symbol(draw: ImageDraw.ImageDraw, left: float, top: float, unit: float, p: Palette) -> None:
    """Draw the symbol on a 100x100-unit grid whose top-left corner is (left, top)."""
    def xy(*pts: float) -> list[float]:
        return [left + v * unit if i % 2 == 0 else top + v * unit for i, v in enumerate(pts)]

    # Back bubble (upper left), tail pointing down-left.
    draw.rounded_rectangle(xy(0, 6, 50, 40), radius=11 * unit, fill=p.bubble_back)
    draw.polygon(xy(8, 36, 22, 36, 4, 50), fill=p.bubble_back)
    # Front bubble (lower left), tail pointing down-right; the hole ring separates it from the back bubble.
    draw.rounded_rectangle(xy(10, 44, 62, 80), radius=12 * unit, fill=p.hole)
    draw.rounded_rectangle(xy(13, 47, 59, 77), radius=10 * unit, fill=p.bubble_front)
    draw.polygon(xy(42, 74, 56, 74, 58, 90), fill=p.bubble_front)
    for cx in (25, 36, 47):  # typing dots: this is a conversation
        draw.ellipse(xy(cx - 3.6, 58.4, cx + 3.6, 65.6), fill=p.hole)
    # The link: a bracket from both bubbles meeting at a node on the record's edge.
    w = 7.0
    draw.rectangle(xy(50, 20 - w / 2, 64, 20 + w / 2), fill=p.link)
    draw.rectangle(xy(59, 64 - w / 2, 64, 64 + w / 2), fill=p.link)
    draw.rectangle(xy(64 - w / 2, 20 - w / 2, 64 + w / 2, 64 + w / 2), fill=p.link)
    # The record: a page with a dog-ear fold, a title line and two field lines.
    draw.polygon(xy(70, 10, 86, 10, 100, 24, 100, 92, 70, 92), fill=p.record)
    draw.polygon(xy(84, 10, 100, 26, 84, 26), fill=p.hole)
    draw.polygon(xy(87, 13, 97, 23, 87, 23), fill=p.fold)
    draw.rectangle(xy(75, 35, 84, 41), fill=p.hole)
    for y in (52, 66, 80):
        draw.rectangle(xy(75, y - 3, 95, y + 3), fill=p.hole)
    draw.ellipse(xy(64 - 7, 42 - 7, 64 + 7, 42 + 7), fill=p.link)  # the node where the chats meet the record


def color_icon(size: int = 192) -> Image.Image:
    """Full-colour icon: solid accent background, symbol in the central 116/192 of the square (Teams' safe area)."""
    big = size * OVERSAMPLE
    img = Image.new("RGB", (big, big), ACCENT)
    unit = big * 116 / 192 / 100
    offset = (big - 100 * unit) / 2
    draw_symbol(ImageDraw.Draw(img), offset, offset, unit, COLOR)
    return img.reduce(OVERSAMPLE)


def outline_icon(size: int = 32) -> Image.Image:
    """White-on-transparent icon: every pixel is pure white, only its alpha varies."""
    big = size * OVERSAMPLE
    mask = Image.new("L", (big, big), 0)
    unit = big * 28 / 32 / 100  # 2 px of padding each side at 32 px
    offset = (big - 100 * unit) / 2
    draw_symbol(ImageDraw.Draw(mask), offset, offset, unit, OUTLINE)
    icon = Image.new("RGBA", (size, size), (255, 255, 255, 0))
    icon.putalpha(mask.reduce(OVERSAMPLE))
    return icon


def main() -> None:
    color_icon().save(HERE / "color.png", optimize=True)
    outline_icon().save(HERE / "outline.png", optimize=True)
    print(f"wrote {HERE / 'color.png'} and {HERE / 'outline.png'}")


if __name__ == "__main__":
    main()
