"""Hidden-state extraction with a tiny randomly initialised Wav2Vec2 (no download)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from tutorial_utils.frames import n_model_frames

torch = pytest.importorskip("torch", reason="the extract extra (torch) is not installed")
transformers = pytest.importorskip("transformers", reason="the extract extra is not installed")

from tutorial_utils.io import extract  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "real_format", Path(__file__).parent / "fixtures" / "real_format.py"
)
real_format = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(real_format)
tiny_model = real_format.tiny_model


def test_hidden_states_count_and_frames():
    extractor, model = tiny_model(layers=3)
    audio = np.random.default_rng(0).standard_normal(5000).astype(np.float32)
    states = extract.hidden_states(audio, model, extractor)
    assert len(states) == 3 + 1
    assert all(s.shape == (n_model_frames(5000), 16) and s.dtype == np.float32 for s in states)


def test_extract_hidden_states_layout():
    extractor, model = tiny_model()
    rng = np.random.default_rng(1)
    recordings = [("a.mat", rng.standard_normal(4000)), ("b.mat", rng.standard_normal(7123))]
    states = extract.extract_hidden_states(recordings, model, extractor, progress=False)
    assert sorted(states) == [0, 1, 2]
    assert states[2]["b.mat"].shape == (n_model_frames(7123), 16)
    again = extract.extract_hidden_states(recordings, model, extractor, progress=False)
    np.testing.assert_array_equal(states[1]["a.mat"], again[1]["a.mat"])  # deterministic


def test_normalisation_matters_like_the_original():
    extractor, model = tiny_model()
    audio = np.random.default_rng(2).standard_normal(3000).astype(np.float32) * 0.01 + 0.3
    normalised = extract.hidden_states(audio, model, extractor)[-1]
    manual = (audio - audio.mean()) / np.sqrt(audio.var() + 1e-7)
    np.testing.assert_allclose(normalised, extract.hidden_states(manual, model)[-1], atol=1e-4)


def test_require_torch_message(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_transformers(name, *args, **kwargs):
        if name == "transformers":
            raise ImportError("no transformers", name="transformers")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_transformers)
    with pytest.raises(ImportError, match="pip install torch==2.13.0 transformers"):
        extract.require_torch()
