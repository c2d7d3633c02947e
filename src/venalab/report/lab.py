"""The laboratory's identity on its reports: name, address, accreditation line, report title
and logo, configured once (web: Admin > Lab identity, stored in the database; command line:
`venalab report --lab lab.toml`).

The logo is an image the lab uploads, so it is treated as hostile input: PNG or JPEG only
(by content, not by name), at most LOGO_MAX_BYTES and LOGO_MAX_PIXELS per side, fully
decoded with Pillow (a truncated or malformed file is refused), and then re-encoded as a PNG
of at most LOGO_OUTPUT_MAX_PX per side: what is stored and printed is that re-encoded image,
never the upload (no metadata, no trailing data, no polyglot content). SVG is refused: it can
carry script.
"""

from __future__ import annotations

import base64
import io
import warnings
from pathlib import Path
from typing import Annotated, Final

from pydantic import AfterValidator, Field, ValidationError

from venalab.datafiles import read_toml
from venalab.errors import InvalidInput, Problem, problems_from_validation
from venalab.evidence import Frozen
from venalab.text_rules import multi_line, single_line

LOGO_MAX_BYTES: Final = 512 * 1024
LOGO_MAX_PIXELS: Final = 4000  # per side, before decoding (decompression bombs)
LOGO_OUTPUT_MAX_PX: Final = 600
DEFAULT_TITLE: Final = "Lower Extremity Venous Duplex Ultrasound"

OneLine = AfterValidator(single_line)
Lines = AfterValidator(multi_line)


class LabInfo(Frozen):
    """What the report header prints. `logo_png` is a logo already checked by
    `validate_logo` (a PNG venalab encoded)."""

    name: Annotated[str, Field(min_length=1, max_length=200), OneLine] = "Vascular Laboratory"
    address: Annotated[str, Field(max_length=400), Lines] | None = None
    accreditation: Annotated[str, Field(max_length=300), OneLine] | None = None
    report_title: Annotated[str, Field(min_length=1, max_length=150), OneLine] = DEFAULT_TITLE
    logo_png: bytes | None = None

    @property
    def logo_src(self) -> str | None:
        """The logo as a data: URI for the self-contained report (its CSP allows data:)."""
        if self.logo_png is None:
            return None
        return "data:image/png;base64," + base64.b64encode(self.logo_png).decode("ascii")

    @property
    def address_lines(self) -> list[str]:
        return [x.strip() for x in (self.address or "").splitlines() if x.strip()]


def _format(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    return None


def _check_complete(data: bytes, kind: str) -> None:
    """Refuse a truncated file even where Pillow's process-wide LOAD_TRUNCATED_IMAGES is on
    (other libraries set it): a PNG must pass `verify` (every chunk's CRC, up to IEND), a
    JPEG must end with its EOI marker."""
    from PIL import Image

    if kind == "JPEG":
        if not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
            raise OSError("truncated JPEG")
        return
    with Image.open(io.BytesIO(data), formats=["PNG"]) as img:
        img.verify()
    if b"IEND" not in data[-16:]:
        raise OSError("truncated PNG")


def validate_logo(data: bytes, *, field: str = "logo") -> bytes:
    """The logo re-encoded as a PNG, or InvalidInput naming `field` and what is allowed."""
    if not data:
        raise InvalidInput([Problem(field, "the file is empty")], what="logo")
    if len(data) > LOGO_MAX_BYTES:
        raise InvalidInput(
            [Problem(field, f"{len(data):,} bytes; use at most {LOGO_MAX_BYTES // 1024} KB")],
            what="logo",
        )
    kind = _format(data)
    if kind is None:
        raise InvalidInput(
            [Problem(field, "not a PNG or JPEG image (checked by content; SVG is not allowed)")],
            what="logo",
        )
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[kind]) as img:
                width, height = img.size
                if width > LOGO_MAX_PIXELS or height > LOGO_MAX_PIXELS or min(width, height) < 1:
                    raise InvalidInput(
                        [
                            Problem(
                                field,
                                f"{width} x {height} pixels; use at most {LOGO_MAX_PIXELS} "
                                "pixels per side",
                            )
                        ],
                        what="logo",
                    )
                img.load()  # decodes every pixel: a corrupt file fails here
                rgba = img.convert("RGBA")
            _check_complete(data, kind)
    except InvalidInput:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Warning) as err:
        raise InvalidInput(
            [Problem(field, f"not a readable {kind} image ({type(err).__name__})")], what="logo"
        ) from None
    rgba.thumbnail((LOGO_OUTPUT_MAX_PX, LOGO_OUTPUT_MAX_PX))
    out = io.BytesIO()
    rgba.save(out, format="PNG", optimize=True)
    return out.getvalue()


def load_lab(path: Path | None) -> LabInfo:
    """The lab identity of `path` (VENALAB_LAB_FILE, `venalab report --lab`), or the default
    letterhead when no file is configured."""
    return LabInfo() if path is None else load_lab_file(path)


def load_lab_file(path: Path) -> LabInfo:
    """The lab identity from a TOML file (README, "Reports"): `name`, `address`,
    `accreditation`, `report_title`, and `logo`, a PNG or JPEG path relative to the file."""
    try:
        data = dict(read_toml(path))
    except OSError as err:
        raise InvalidInput([Problem("", f"cannot read: {err.strerror}")], what=path.name) from None
    logo = data.pop("logo", None)
    png = None
    if logo is not None:
        if not isinstance(logo, str):
            raise InvalidInput([Problem("logo", "a path to a PNG or JPEG file")], what=path.name)
        logo_path = (path.parent / logo).resolve()
        try:
            with logo_path.open("rb") as fh:
                raw = fh.read(LOGO_MAX_BYTES + 1)
        except OSError as err:
            raise InvalidInput(
                [Problem("logo", f"cannot read {logo}: {err.strerror}")], what=path.name
            ) from None
        png = validate_logo(raw)
    try:
        return LabInfo.model_validate({**data, "logo_png": png})
    except ValidationError as err:
        raise InvalidInput(problems_from_validation(err), what=path.name) from None
