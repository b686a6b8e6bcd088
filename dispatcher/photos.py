"""Lawyers' photos: an administrator uploads one, the tablet's list shows it beside the name.

The upload is decoded with Pillow and written anew (at most `EDGE` pixels a side, without the
file's metadata: a phone's photo carries where it was taken), under the data directory, named
by its content. The file is written before the transaction that records its name commits:
a rolled-back upload leaves an unreferenced file, never a lawyer pointing at a missing one or
a photo changed without its audit event.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from pathlib import Path

from PIL import Image
from sqlmodel import Session

from dispatcher import audit, registry
from dispatcher.errors import DomainError, Invalid, NotFound
from policies.vocabulary import PhotoType

# Where the photos are kept, inside the data directory; what the registry's `photo` names.
FOLDER = "photos"
# The longest side a photo is kept at: a card shows it at about 100 px, a print at twice that.
EDGE = 512
# Larger images are refused before decoding (a small file can declare a huge picture).
MAX_PIXELS = 40_000_000
_FORMATS = {PhotoType.PNG: "PNG", PhotoType.JPEG: "JPEG"}
_SUFFIXES = {PhotoType.PNG: ".png", PhotoType.JPEG: ".jpg"}


class PhotoTooLarge(DomainError):
    status_code = 413


class PhotoTypeRefused(DomainError):
    status_code = 415


def media_type(content_type: str | None) -> PhotoType:
    """The upload's declared type: PNG or JPEG (415 otherwise)."""
    declared = (content_type or "").split(";")[0].strip().lower()
    try:
        return PhotoType(declared)
    except ValueError:
        raise PhotoTypeRefused("a photo must be sent as image/png or image/jpeg") from None


def encode(content: bytes, kind: PhotoType, *, max_bytes: int) -> bytes:
    """The photo re-encoded as `kind`, at most `EDGE` pixels a side and without metadata;
    413 when too large, 422 (field `photo`) when it is not an image of that kind."""
    if len(content) > max_bytes:
        raise PhotoTooLarge(f"a photo may be at most {max_bytes} bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content)) as probe:
                found = probe.format
                width, height = probe.size
                probe.verify()
            if found != _FORMATS[kind]:
                raise Invalid("photo", f"the file is not a {_FORMATS[kind]} image")
            if width * height > MAX_PIXELS:
                raise Invalid("photo", "the image has too many pixels")
            with Image.open(io.BytesIO(content)) as image:
                image.load()
                picture = image.convert("RGBA" if kind is PhotoType.PNG else "RGB")
    except Invalid:
        raise
    except Exception:
        # Whatever a damaged or hostile file makes the decoder raise (a truncated stream, a
        # decompression bomb, a broken header): the upload is at fault, not the service.
        raise Invalid("photo", "the file is not a readable image") from None
    picture.thumbnail((EDGE, EDGE))
    out = io.BytesIO()
    picture.save(out, format=_FORMATS[kind], **({"quality": 85} if kind is PhotoType.JPEG else {}))
    return out.getvalue()


def store(data_dir: str | Path, licence: str, encoded: bytes, kind: PhotoType) -> str:
    """Write an encoded photo under the data directory; the path the registry keeps."""
    digest = hashlib.sha256(encoded).hexdigest()[:16]
    name = f"{FOLDER}/{_safe(licence)}-{digest}{_SUFFIXES[kind]}"
    target = Path(data_dir) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(target.suffix + ".part")
    temporary.write_bytes(encoded)
    os.replace(temporary, target)
    return name


def set_photo(session: Session, *, licence: str, photo: str, actor: str) -> None:
    """Point the lawyer's registry entry at a stored photo, with an audit event (404 for an
    unknown licence)."""
    lawyer = registry.lawyer_by_licence(session, licence)
    if lawyer is None:
        raise NotFound(f"unknown lawyer {licence}")
    if lawyer.photo == photo:
        return
    lawyer.photo = photo
    session.add(lawyer)
    audit.record(
        session,
        actor=actor,
        action="registry.lawyer.photo_saved",
        entity_type="lawyer",
        entity_id=licence,
        payload={"photo": photo},
    )


def photo_file(data_dir: str | Path, stored: str) -> tuple[Path, PhotoType] | None:
    """The file a registry `photo` names, inside the data directory only, with its type;
    None when it is missing or points elsewhere."""
    root = Path(data_dir).resolve()
    path = (root / stored).resolve()
    kind = next((k for k, suffix in _SUFFIXES.items() if path.suffix.lower() == suffix), None)
    if kind is None and path.suffix.lower() == ".jpeg":
        kind = PhotoType.JPEG
    if kind is None or not path.is_relative_to(root) or not path.is_file():
        return None
    return path, kind


def _safe(licence: str) -> str:
    """A licence as a file name: letters, digits and dashes only."""
    return "".join(c if c.isalnum() or c == "-" else "_" for c in licence)
