"""The local RFC 3161 timestamp authority (revoke.sandbox.tsa) as a pytest fixture."""

from __future__ import annotations

import shutil
from typing import Iterator

import pytest

from revoke.sandbox.tsa import Tsa, local_tsa, make_authority  # noqa: F401 - make_authority is for tests
from tests.conftest import skip_unless_ci


@pytest.fixture
def tsa() -> Iterator[Tsa]:
    if shutil.which("openssl") is None:
        skip_unless_ci("needs the openssl command line")
    with local_tsa() as authority:
        yield authority
