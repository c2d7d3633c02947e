"""Reading a JSON request body that FastAPI does not parse for us (exam documents)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from venalab.web.errors import ApiError


async def json_body(request: Request) -> Any:
    """The parsed JSON body, or a 400 saying why it is not JSON."""
    try:
        return json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ApiError(400, f"body is not valid JSON: {e}") from None
