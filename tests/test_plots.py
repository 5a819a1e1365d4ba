"""The shared figures build on small inputs, draw what the tables hold, and carry their labels."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from tutorial_utils import plots as P
from tutorial_utils import sanity
from tutorial_utils import stats as S

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _table(seed, targets=("MFCC", "EMA"), layers=range(13), hue="target", **columns):
    rng = np.random.default_rng(seed)
    rows = [
        (f"r{r}", layer, t, rng.uniform()) for t in targets for r in range(4) for layer in layers
    ]
    return pd.DataFrame(rows, columns=["filename", "layer", hue, "value"]).assign(**columns)


def _colourbars(fig):
    return [ax.get_ylabel() for ax in fig.axes if ax.get_label() == "<colorbar>"]


def _legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def _legible(fig):  # <= 9.2 in at 100 dpi shrinks by <= 1.38 into the book column: >= 9 px
    fig.canvas.draw()
    texts = [t for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text()]
    small = {t.get_text(): t.get_fontsize() for t in texts if t.get_fontsize() < 9}
    width = fig.get_tightbbox().width  # inches, as saved with bbox_inches="tight"
    assert width <= 9.2 and not small, (width, small)
    return fig


def test_cka_by_layer_band_is_the_interval_it_is_given_and_the_null_is_dashed():
    table = _table(7, targets=("EMA",), layers=[3, 4])
    ax = P.cka_by_layer(table, null=_table(1, baseline="circular shift"), errorbar=S.errorbar(0.9))
    assert "EMA" in _legend(ax) and "MFCC: null (circular shift)" in _legend(ax)
    assert {line.get_linestyle() for line in ax.lines} >= {"-", "--"}
    band = ax.collections[0].get_paths()[0].vertices
    for _, row in S.summarise(table, level=0.9).iterrows():
        at_layer = band[np.isclose(band[:, 0], row["layer"]), 1]
        np.testing.assert_allclose(sorted(set(np.round(at_layer, 12))), [row["low"], row["high"]])
    _, given = plt.subplots()
    table = _table(2, targets=("linear",), hue="estimator")
    assert P.cka_by_layer(table, hue="estimator", ax=given, errorbar=S.errorbar()) is given


def test_curves_over_layers_and_noise_ratios():
    wide = pd.DataFrame({"layer": range(13), "a": np.linspace(1, -1, 13), "b": 0.0})
    ax = P.layer_profile(wide, ["a", "b"], ylabel="similarity", title="t", labels={"a": "A"})
    assert (ax.get_title(), ax.get_ylabel(), _legend(ax)) == ("t", "similarity", ["A", "b"])
    np.testing.assert_allclose(ax.lines[0].get_ydata(), wide["a"])
    noise = sanity.noise_cka(n_stimuli=(5, 20), n_features=(12,), n_repeats=3)
    ax = P.noise_cka(noise, marks={"sentence means": 2.4})
    _legible(ax.figure)
    assert {"biased, d = 12", "debiased, d = 12"} <= set(_legend(ax)) and ax.get_xscale() == "log"


@pytest.mark.parametrize("signed", [True, False])
def test_gram_colours_are_centred_on_zero_when_signed(signed):
    x = np.random.default_rng(3).standard_normal((6, 4))
    gram = x @ x.T if signed else np.abs(x @ x.T)
    ax = P.gram(gram, labels=list("abcdef"), title="G", cbar_label="dot product")
    assert (ax.get_title(), _colourbars(ax.figure)) == ("G", ["dot product"])
    assert [t.get_text() for t in ax.get_yticklabels()] == list("abcdef")
    low, high = ax.collections[0].get_clim()
    assert (low == -high == -np.abs(gram).max()) if signed else low == gram.min()


def test_matrix_grids_share_scales_and_label_their_panels():
    rng = np.random.default_rng(4)
    grams = {layer: np.corrcoef(rng.standard_normal((5, 8))) for layer in range(13)}
    fig = P.gram_grid(grams, labels=list("vwxyz"), cbar_label="z", panel_titles={0: "diff 0.10"})
    assert _colourbars(fig) == ["z"] and fig.axes[0].get_title() == "layer 0\ndiff 0.10"
    assert [ax.get_visible() for ax in fig.axes[:15]] == [True] * 13 + [False] * 2
    biased = pd.DataFrame(np.eye(13))
    assert len(_legible(fig) and P.layer_heatmap(biased).texts) == 169  # values written in
    _legible(plt.gcf())
    fig = P.layer_heatmaps({"biased": biased, "debiased": biased - 0.2, "third": biased})
    _legible(fig)
    visible = [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert [ax.get_title() for ax in visible] == ["biased", "debiased", "third"]
    assert _colourbars(fig) == ["linear CKA"] * 3 and not visible[0].texts
    assert visible[1].collections[0].get_clim() == pytest.approx((-0.2, 1.0))


def test_chapter00_figures():
    fig = P.ema_trajectories(np.random.default_rng(5).standard_normal((60, 12)), y_axis="Y")
    _legible(fig)
    assert len(fig.axes) == 6 and fig.axes[-1].get_xlabel() == "time (s)"
    assert fig.axes[-1].lines[0].get_xdata()[-1] == pytest.approx(59 * 0.02)
    fig = P.waveform_spectrogram(np.random.default_rng(6).standard_normal(8000), title="noise")
    assert fig.get_suptitle() == "noise" and _colourbars(fig) == ["power (dB)"]
    assert _legible(fig).axes[0].get_xlabel() == "time (s)"  # the waveform's time axis too
    assert "98 frames" in _legible(P.frame_grid(31609)).get_suptitle()


def test_show_displays_and_closes(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", shown.append)
    ax = P.gram(np.eye(3))
    P.show(ax)
    assert shown == [ax.figure] and not plt.fignum_exists(ax.figure.number)


@pytest.mark.parametrize("n_measures", [3, 5])
def test_measure_panels_draw_the_observed_values_and_a_dashed_null(n_measures):
    measures, rng = [f"m{i}" for i in range(n_measures)], np.random.default_rng(0)
    rows = [(m, "MFCC", n, v, rng.uniform()) for m in measures for v in ("observed", "shift 1")
            for n in range(13)]  # fmt: skip
    scores = pd.DataFrame(rows, columns=["measure", "target", "layer", "version", "value"])
    fig = P.measures_with_nulls(scores, measures[::-1], ["MFCC"])
    assert [ax.get_title() for ax in fig.axes] == measures[::-1] and fig.legends
    assert {line.get_linestyle() for line in _legible(fig).axes[0].lines} >= {"-", "--"}
    observed = scores.query("measure == @measures[-1] and version == 'observed'")["value"]
    assert any(np.allclose(line.get_ydata(), observed) for line in fig.axes[0].lines)
    gaps = scores[scores["version"] == "observed"].rename(columns={"value": "rescaled gap"})
    fig = _legible(P.rescaled_profiles(gaps, measures, ["MFCC"]))
    assert len(fig.axes[0].lines) >= n_measures and f"{n_measures} measures" in fig.get_suptitle()
