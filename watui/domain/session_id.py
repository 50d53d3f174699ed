"""Session ids become file names (sessions/<id>.db, logs), so they are held to a strict shape."""

import re

from watui.domain.errors import InvalidSessionId

_SESSION_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


def validate_session_id(session_id: object) -> str:
    if not isinstance(session_id, str) or session_id == "":
        raise InvalidSessionId("invalid session id: empty (use 1-32 of a-z, 0-9, '-' and '_')")
    if not _SESSION_ID_RE.match(session_id):
        raise InvalidSessionId(
            f"invalid session id {session_id!r}: use 1-32 characters of a-z, 0-9, '-' and '_', "
            "starting with a letter or digit"
        )
    return session_id
