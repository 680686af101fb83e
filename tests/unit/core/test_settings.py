"""Settings read from the environment."""

from __future__ import annotations

import pytest

from imagegen.core.settings import CONTROLS_CACHE_SECONDS, controls_cache_seconds


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment with no emulator in sight."""
    for name in ("FUNCTIONS_EMULATOR", "FIRESTORE_EMULATOR_HOST", "CONTROLS_CACHE_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_deployed_functions_keep_config_for_five_seconds_whatever_the_environment_says(deployed):
    assert controls_cache_seconds() == CONTROLS_CACHE_SECONDS == 5.0
    deployed.setenv("CONTROLS_CACHE_SECONDS", "1")
    assert controls_cache_seconds() == 5.0


@pytest.mark.parametrize(
    "emulator", [("FUNCTIONS_EMULATOR", "true"), ("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8080")]
)
def test_against_the_emulators_the_environment_may_shorten_it(deployed, emulator):
    deployed.setenv(*emulator)
    assert controls_cache_seconds() == 5.0
    deployed.setenv("CONTROLS_CACHE_SECONDS", "0.5")
    assert controls_cache_seconds() == 0.5


@pytest.mark.parametrize("value", ["", "soon", "0", "-1", "60", "nan"])
def test_a_value_that_is_not_a_shorter_time_keeps_five_seconds(deployed, value):
    deployed.setenv("FUNCTIONS_EMULATOR", "true")
    deployed.setenv("CONTROLS_CACHE_SECONDS", value)
    assert controls_cache_seconds() == 5.0
