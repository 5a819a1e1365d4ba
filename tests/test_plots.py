"""The shared figures build on small inputs and carry titles, axis labels and colour bars."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from tutorial_utils import plots as P  # noqa: E402
from tutorial_utils import sanity  # noqa: E402
from tutorial_utils import stats as S  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _curve_table(rng, targets=("MFCC", "EMA"), n_recordings=4, layers=range(13)):
    rows = [
        {"filename": f"r{r}", "layer": layer, "target": m, "value": rng.uniform(0.2, 0.6)}
        for m in targets
        for r in range(n_recordings)
        for layer in layers
    ]
    return pd.DataFrame(rows)


def _colourbar_labels(fig: Figure) -> list[str]:
    """Labels of every colour-bar axis in a figure (their axes carry the label)."""
    labels = []
    for ax in fig.axes:
        if ax.get_label() == "<colorbar>":
            labels.append(ax.get_ylabel() or ax.get_xlabel())
    return labels


def test_cka_by_layer_with_null_band():
    rng = np.random.default_rng(0)
    table = _curve_table(rng)
    null = _curve_table(rng).assign(baseline="circular shift")
    ax = P.cka_by_layer(table, null=null)
    assert isinstance(ax, Axes)
    assert ax.get_title() and "layer" in ax.get_xlabel() and "CKA" in ax.get_ylabel()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "MFCC" in labels and any("circular shift" in label for label in labels)
    assert len(ax.collections) == 4  # one band per target, observed and null


def test_cka_by_layer_on_given_axes_and_hue():
    rng = np.random.default_rng(1)
    table = _curve_table(rng, targets=("MFCC",)).assign(estimator="linear")
    _, ax = plt.subplots()
    assert (
        P.cka_by_layer(table, hue="estimator", ax=ax, errorbar=S.errorbar(method="bootstrap")) is ax
    )


def test_band_is_the_interval_it_is_given():
    table = _curve_table(np.random.default_rng(7), targets=("EMA",), layers=[3, 4])
    ax = P.cka_by_layer(table, errorbar=S.errorbar(0.9))
    band = ax.collections[0].get_paths()[0].vertices
    summary = S.summarise(table, level=0.9)
    for _, row in summary.iterrows():
        at_layer = band[np.isclose(band[:, 0], row["layer"]), 1]
        np.testing.assert_allclose(sorted(set(np.round(at_layer, 12))), [row["low"], row["high"]])


def test_noise_cka_draws_both_estimators_and_the_expectation():
    noise = sanity.noise_cka(n_stimuli=(5, 20), n_features=(12,), n_repeats=3)
    ax = P.noise_cka(noise, marks={"sentence means": 2.4})
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "biased, d = 12" in labels and "debiased, d = 12" in labels
    assert any("d / (d + n)" in label for label in labels)
    assert ax.get_xscale() == "log"


def test_lag_curve():
    rng = np.random.default_rng(2)
    table = _curve_table(rng, targets=("EMA",), layers=[6])
    table = pd.concat([table.assign(lag=k, lag_ms=20.0 * k) for k in range(-2, 3)])
    ax = P.lag_curve(table)
    assert "layer 6" in ax.get_title() and "ms" in ax.get_xlabel() and ax.get_ylabel()


def test_layer_profile():
    table = pd.DataFrame({"layer": range(13), "a": np.linspace(1, -1, 13), "b": 0.0})
    ax = P.layer_profile(table, ["a", "b"], ylabel="similarity", title="t", labels={"a": "A"})
    assert ax.get_title() == "t" and ax.get_xlabel() == "layer"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["A", "b"]


@pytest.mark.parametrize("signed", [True, False])
def test_gram_heatmap(signed):
    x = np.random.default_rng(3).standard_normal((6, 4))
    gram = x @ x.T if signed else np.abs(x @ x.T)
    ax = P.gram(gram, labels=list("abcdef"), title="G", cbar_label="dot product")
    assert ax.get_title() == "G" and ax.get_xlabel() == "stimulus"
    assert _colourbar_labels(ax.figure) == ["dot product"]


def test_gram_grid_shares_one_colour_bar():
    rng = np.random.default_rng(4)
    grams = {layer: np.corrcoef(rng.standard_normal((5, 8))) for layer in range(13)}
    fig = P.gram_grid(
        grams, labels=list("vwxyz"), cbar_label="z-score product", panel_titles={0: "diff 0.10"}
    )
    assert isinstance(fig, Figure)
    assert fig.get_suptitle() and _colourbar_labels(fig) == ["z-score product"]
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert "layer 0\ndiff 0.10" in titles and "layer 12" in titles


def test_layer_heatmap_is_annotated():
    labels = list(range(13))
    matrix = pd.DataFrame(np.eye(13), index=labels, columns=labels)
    ax = P.layer_heatmap(matrix, title="within speaker")
    assert ax.get_title() == "within speaker" and ax.get_xlabel() == "layer"
    assert len(ax.texts) == 169
    assert _colourbar_labels(ax.figure) == ["linear CKA"]


def test_layer_heatmaps_one_panel_per_matrix_and_negative_values_visible():
    labels = list(range(13))
    biased = pd.DataFrame(np.eye(13), index=labels, columns=labels)
    debiased = biased - 0.2
    fig = P.layer_heatmaps({"biased": biased, "debiased": debiased, "third": biased})
    visible = [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert [ax.get_title() for ax in visible] == ["biased", "debiased", "third"]
    assert len([ax for ax in fig.axes if not ax.get_visible()]) == 1  # 2 x 2 grid, one unused
    assert _colourbar_labels(fig) == ["linear CKA"] * 3
    low, _ = visible[1].collections[0].get_clim()
    assert low == pytest.approx(-0.2)


def test_ema_trajectories():
    ema = np.random.default_rng(5).standard_normal((60, 12))
    fig = P.ema_trajectories(ema, y_axis="Y (vertical)")
    axes = fig.axes
    assert len(axes) == 6 and axes[-1].get_xlabel() == "time (s)"
    assert all("mm" in ax.get_ylabel() for ax in axes) and fig.get_suptitle()


def test_waveform_spectrogram():
    audio = np.random.default_rng(6).standard_normal(8000).astype(np.float32)
    fig = P.waveform_spectrogram(audio, title="noise")
    assert fig.get_suptitle() == "noise"
    assert _colourbar_labels(fig) == ["power (dB)"]
    assert fig.axes[1].get_ylabel() == "frequency (Hz)"


def test_frame_grid():
    fig = P.frame_grid(31609)
    assert "98 frames" in fig.get_suptitle()
    assert all(ax.get_xlabel() == "time (ms)" for ax in fig.axes)
    with pytest.raises(ValueError):
        P.frame_grid(100)


def test_show_displays_and_closes(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", shown.append)
    ax = P.gram(np.eye(3))
    P.show(ax)
    assert shown == [ax.figure] and not plt.fignum_exists(ax.figure.number)


def _measure_scores(rng, measures, targets=("MFCC", "EMA"), layers=range(13)):
    rows = [
        {"measure": m, "target": t, "layer": layer, "version": v, "value": rng.uniform()}
        for m in measures
        for t in targets
        for v in ("observed", "shift 1")
        for layer in layers
    ]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("n_measures", [3, 5])
def test_measures_with_nulls_one_panel_per_measure_and_a_dashed_null(n_measures):
    measures = [f"m{i}" for i in range(n_measures)]
    scores = _measure_scores(np.random.default_rng(0), measures)
    fig = P.measures_with_nulls(scores, measures[::-1], ["MFCC", "EMA"])
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == measures[::-1]
    first = fig.axes[0]
    # observed and null for each of the two targets; the null lines are dashed
    assert len(first.lines) >= 4
    assert {line.get_linestyle() for line in first.lines} >= {"-", "--"}
    observed = scores[(scores["measure"] == measures[-1]) & (scores["version"] == "observed")]
    mfcc = observed[observed["target"] == "MFCC"].sort_values("layer")["value"].to_numpy()
    assert any(np.allclose(line.get_ydata(), mfcc) for line in first.lines)
    assert fig.legends  # the legend is the figure's, beside the panels


def test_rescaled_profiles_one_panel_per_target_one_line_per_measure():
    measures = ["a", "b", "c"]
    gaps = _measure_scores(np.random.default_rng(1), measures)
    gaps = gaps[gaps["version"] == "observed"].rename(columns={"value": "rescaled gap"})
    fig = P.rescaled_profiles(gaps, measures, ["EMA", "MFCC"])
    assert [ax.get_title() for ax in fig.axes] == ["EMA", "MFCC"]
    assert all(len(ax.lines) >= len(measures) for ax in fig.axes)
    assert "3 measures" in fig._suptitle.get_text()
