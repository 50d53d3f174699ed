import ast

import pytest

from watui.control.protocol import ControlError, parse_request
from watui.jsondepth import too_deep


def test_deep_nesting_is_refused_before_the_parser_sees_it():
    assert too_deep(b"[" * 100_000 + b"]" * 100_000)
    assert too_deep("{" + '"a":{' * 70 + "}" * 71)
    assert not too_deep(b'{"id": 1, "method": "sessions.list", "params": {"a": [[1], [2]]}}')
    # brackets inside strings are text, not nesting
    assert not too_deep(b'{"text": "' + b"[" * 10_000 + b'"}')


def test_a_hostile_request_leaves_the_interpreter_sound():
    with pytest.raises(ControlError, match="nested too deeply"):
        parse_request(b"[" * 100_000 + b"\n")
    ast.parse("x = (1, [2, {3: 4}])")  # failed after a caught RecursionError on CPython 3.11
