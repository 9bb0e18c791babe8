"""Every format in `FORMATS`, retrieval included, runs the shared contract of `tests/format_contract.py`."""

from __future__ import annotations

import pytest

from raytl.tasks.formats import FORMATS
from tests.format_contract import CONTRACT_TASKS, FormatContract


class TestEveryFormat(FormatContract):
    @pytest.fixture(params=CONTRACT_TASKS, ids=[name for name, _ in CONTRACT_TASKS])
    def case(self, request: pytest.FixtureRequest) -> tuple[str, str]:
        return request.param


def test_every_format_has_a_contract_case() -> None:
    assert [name for name, _ in CONTRACT_TASKS] == list(FORMATS)


def test_every_target_phase_a_format_declares_has_a_phase_in_the_trial() -> None:
    from raytl.pipeline.trial import TARGET_PHASES

    assert {fmt.target_phase for fmt in FORMATS.values()} == set(TARGET_PHASES) == {"train", "embed"}
