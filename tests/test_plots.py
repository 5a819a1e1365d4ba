"""The shared figures build on small inputs, draw what the tables hold, and carry their labels."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from tutorial_utils import plots as P  # noqa: E402
from tutorial_utils import sanity  # noqa: E402
from tutorial_utils import stats as S  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _table(seed, targets=("MFCC", "EMA"), layers=range(13), n_recordings=4, column="target"):
    rng = np.random.default_rng(seed)
    rows = [
        {"filename": f"r{r}", "layer": layer, column: m, "value": rng.uniform(0.2, 0.6)}
        for m in targets
        for r in range(n_recordings)
        for layer in layers
    ]
    return pd.DataFrame(rows)


def _colourbars(fig):
    return [ax.get_ylabel() for ax in fig.axes if ax.get_label() == "<colorbar>"]


def _legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_cka_by_layer_with_null_band_and_on_given_axes():
    null = _table(1).assign(baseline="circular shift")
    ax = P.cka_by_layer(_table(0), null=null)
    assert "layer" in ax.get_xlabel() and "CKA" in ax.get_ylabel() and ax.get_title()
    assert "MFCC" in _legend(ax) and "EMA: null (circular shift)" in _legend(ax)
    assert len(ax.collections) == 4  # one band per target, observed and null
    _, given = plt.subplots()
    table = _table(2, targets=("linear",), column="estimator")
    bootstrap = S.errorbar(method="bootstrap")
    assert P.cka_by_layer(table, hue="estimator", ax=given, errorbar=bootstrap) is given


def test_band_is_the_interval_it_is_given():
    table = _table(7, targets=("EMA",), layers=[3, 4])
    band = P.cka_by_layer(table, errorbar=S.errorbar(0.9)).collections[0].get_paths()[0].vertices
    for _, row in S.summarise(table, level=0.9).iterrows():
        at_layer = band[np.isclose(band[:, 0], row["layer"]), 1]
        np.testing.assert_allclose(sorted(set(np.round(at_layer, 12))), [row["low"], row["high"]])


def test_lag_curve_and_layer_profile():
    table = _table(2, targets=("EMA",), layers=[6])
    table = pd.concat([table.assign(lag_ms=20.0 * k) for k in range(-2, 3)])
    ax = P.lag_curve(table)
    assert "layer 6" in ax.get_title() and "ms" in ax.get_xlabel()
    wide = pd.DataFrame({"layer": range(13), "a": np.linspace(1, -1, 13), "b": 0.0})
    ax = P.layer_profile(wide, ["a", "b"], ylabel="similarity", title="t", labels={"a": "A"})
    assert (ax.get_title(), ax.get_ylabel(), _legend(ax)) == ("t", "similarity", ["A", "b"])
    np.testing.assert_allclose(ax.lines[0].get_ydata(), wide["a"])


def test_noise_cka_draws_both_estimators_and_the_expectation():
    noise = sanity.noise_cka(n_stimuli=(5, 20), n_features=(12,), n_repeats=3)
    ax = P.noise_cka(noise, marks={"sentence means": 2.4})
    assert {"biased, d = 12", "debiased, d = 12"} <= set(_legend(ax))
    assert any("d / (d + n)" in label for label in _legend(ax)) and ax.get_xscale() == "log"


@pytest.mark.parametrize("signed", [True, False])
def test_gram_colours_are_centred_on_zero_when_signed(signed):
    x = np.random.default_rng(3).standard_normal((6, 4))
    gram = x @ x.T if signed else np.abs(x @ x.T)
    ax = P.gram(gram, labels=list("abcdef"), title="G", cbar_label="dot product")
    assert (ax.get_title(), ax.get_xlabel(), _colourbars(ax.figure)) == (
        "G", "stimulus", ["dot product"]
    )  # fmt: skip
    low, high = ax.collections[0].get_clim()
    assert (low == -high == -np.abs(gram).max()) if signed else low == gram.min()
    assert [t.get_text() for t in ax.get_yticklabels()] == list("abcdef")


def test_gram_grid_shares_one_colour_bar():
    rng = np.random.default_rng(4)
    grams = {layer: np.corrcoef(rng.standard_normal((5, 8))) for layer in range(13)}
    fig = P.gram_grid(grams, labels=list("vwxyz"), cbar_label="z", panel_titles={0: "diff 0.10"})
    assert fig.get_suptitle() and _colourbars(fig) == ["z"]
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert "layer 0\ndiff 0.10" in titles and "layer 12" in titles


def test_layer_heatmaps_annotated_alone_and_negative_values_visible_in_panels():
    biased = pd.DataFrame(np.eye(13))
    ax = P.layer_heatmap(biased, title="within speaker")
    assert len(ax.texts) == 169 and _colourbars(ax.figure) == ["linear CKA"]
    fig = P.layer_heatmaps({"biased": biased, "debiased": biased - 0.2, "third": biased})
    visible = [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert [ax.get_title() for ax in visible] == ["biased", "debiased", "third"]
    assert len([ax for ax in fig.axes if not ax.get_visible()]) == 1  # 2 x 2 grid, one unused
    assert _colourbars(fig) == ["linear CKA"] * 3 and not visible[0].texts
    assert visible[1].collections[0].get_clim() == pytest.approx((-0.2, 1.0))


def test_chapter00_figures():
    fig = P.ema_trajectories(np.random.default_rng(5).standard_normal((60, 12)), y_axis="Y")
    assert len(fig.axes) == 6 and fig.axes[-1].get_xlabel() == "time (s)"
    assert fig.axes[-1].lines[0].get_xdata()[-1] == pytest.approx(59 * 0.02)
    audio = np.random.default_rng(6).standard_normal(8000).astype(np.float32)
    fig = P.waveform_spectrogram(audio, title="noise")
    assert fig.get_suptitle() == "noise" and _colourbars(fig) == ["power (dB)"]
    fig = P.frame_grid(31609)
    assert "98 frames" in fig.get_suptitle()
    assert all(ax.get_xlabel() == "time (ms)" for ax in fig.axes)


def test_show_displays_and_closes(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", shown.append)
    ax = P.gram(np.eye(3))
    P.show(ax)
    assert shown == [ax.figure] and not plt.fignum_exists(ax.figure.number)


def _scores(measures, targets=("MFCC", "EMA")):
    rng = np.random.default_rng(0)
    rows = [
        {"measure": m, "target": t, "layer": layer, "version": v, "value": rng.uniform()}
        for m in measures
        for t in targets
        for v in ("observed", "shift 1")
        for layer in range(13)
    ]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("n_measures", [3, 5])
def test_measures_with_nulls_one_panel_per_measure_and_a_dashed_null(n_measures):
    measures = [f"m{i}" for i in range(n_measures)]
    scores = _scores(measures)
    fig = P.measures_with_nulls(scores, measures[::-1], ["MFCC", "EMA"])
    assert [ax.get_title() for ax in fig.axes] == measures[::-1] and fig.legends
    first = fig.axes[0]
    assert {line.get_linestyle() for line in first.lines} >= {"-", "--"}
    observed = scores.query("measure == @measures[-1] and version == 'observed'")
    mfcc = observed[observed["target"] == "MFCC"].sort_values("layer")["value"].to_numpy()
    assert any(np.allclose(line.get_ydata(), mfcc) for line in first.lines)


def test_rescaled_profiles_one_panel_per_target_one_line_per_measure():
    gaps = _scores(["a", "b", "c"]).rename(columns={"value": "rescaled gap"})
    fig = P.rescaled_profiles(gaps[gaps["version"] == "observed"], ["a", "b", "c"], ["EMA", "MFCC"])
    assert [ax.get_title() for ax in fig.axes] == ["EMA", "MFCC"]
    assert all(len(ax.lines) >= 3 for ax in fig.axes) and "3 measures" in fig.get_suptitle()
