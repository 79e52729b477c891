"""The local model's files (``agents.llm.backends.model_files``): a file failing its checksum is refused."""

from __future__ import annotations

import pytest

from agents.llm.backends.model_files import prepared_model_dir


def test_a_model_file_failing_its_checksum_is_refused(tmp_path):
    f = tmp_path / "model.gguf"
    f.write_bytes(b"not the model")
    with pytest.raises(ValueError, match="fails its checksum"):
        prepared_model_dir(f, expected_sha256="0" * 64)

