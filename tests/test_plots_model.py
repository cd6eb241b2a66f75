"""The model's figures on a literal backtest: the panels, curves and marks a reader should see."""

from __future__ import annotations

import pandas as pd

from altaviz.model import evaluate
from altaviz.plots import model as model_plots
from altaviz.plots import png_bytes

T0 = pd.Timestamp("2026-01-01", tz="UTC")
HOUR = pd.Timedelta(hours=1)


def _backtest(*, early: bool = False) -> evaluate.Backtest:
    truth = pd.DataFrame([("A", "failure", "bearing_wear", T0 + 20 * HOUR, T0 + 100 * HOUR),
                          ("B", "failure", "valve_leak", T0 + 60 * HOUR, T0 + 150 * HOUR)],
                         columns=["compressor_id", "category", "kind", "start", "failure_time"])
    scores = pd.DataFrame([(unit, T0 + h * HOUR, min(1.0, h / 150)) for unit in "AB" for h in range(200)],
                          columns=["compressor_id", "prediction_timestamp", "failure_probability"])
    if early:
        scores = scores.assign(warning_probability=(scores["failure_probability"] * 2).clip(upper=1.0))
    episodes = {"model": pd.DataFrame({"compressor_id": ["A", "B"], "opened_at": [T0 + 50 * HOUR, T0 + 120 * HOUR]}),
                "threshold alerts": pd.DataFrame({"compressor_id": ["A"], "opened_at": [T0 + 90 * HOUR]})}
    return evaluate.run_backtest({"model": (scores, episodes["model"]), "threshold alerts": (None, episodes["threshold alerts"])},
                                 truth, source="literal", horizon_hours=48)


def _lines(ax) -> list[tuple]:
    return [(line.get_label(), len(line.get_xdata())) for line in ax.get_lines()]


def test_risk_panels_one_per_failure_with_level_and_first_alerts():
    figure = model_plots.risk_before_failures(_backtest(), warning_level=0.3)
    axes = [ax for ax in figure.axes if ax.axison]
    assert [ax.get_title() for ax in axes] == ["A · bearing wear · 01-05 04:00", "B · valve leak · 01-07 06:00"]
    first = _lines(axes[0])
    # The risk curve (100 hours before A's trip), the level line, then per method its vertical mark and its point.
    assert first[0] == ("failure_probability", 100) and first[1][1] == 2
    assert [label for label, _ in first if label.startswith("first")] == ["first model", "first threshold alerts"]
    assert [label for label, _ in _lines(axes[1]) if label.startswith("first")] == ["first model"]
    assert [t.get_text() for t in figure.legends[0].get_texts()] == ["failure_probability", "first model",
                                                                     "first threshold alerts"]
    assert figure.get_suptitle().startswith("Failure risk before each failure")
    assert png_bytes(figure)[:4] == b"\x89PNG"


def test_risk_panels_draw_the_early_warning_curve_when_the_model_has_one():
    with_early = _lines([ax for ax in model_plots.risk_before_failures(_backtest(early=True), warning_level=0.3).axes
                         if ax.axison][0])
    assert with_early[:2] == [("failure_probability", 100), ("warning_probability", 100)]
    without = _lines([ax for ax in model_plots.risk_before_failures(_backtest(), warning_level=0.3).axes if ax.axison][0])
    assert "warning_probability" not in [label for label, _ in without]


def test_reliability_curve_draws_the_diagonal_and_the_bins_with_hours():
    figure = model_plots.reliability_curve(_backtest())
    (ax,) = figure.axes
    assert [line.get_label() for line in ax.get_lines()] == ["perfectly calibrated", "model"]
    filled = _backtest().reliability.dropna(subset=["mean_predicted"])
    assert len(ax.get_lines()[1].get_xdata()) == len(filled) == 10
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("mean predicted probability", "observed failure rate")


def test_a_cold_start_draws_a_note_instead_of_failing():
    for figure in (model_plots.risk_before_failures(None, warning_level=0.3), model_plots.reliability_curve(None)):
        (ax,) = figure.axes
        assert ax.get_lines() == [] and len(ax.texts) == 1
        assert ax.texts[0].get_text().startswith("No trained model yet (cold start)")


def test_a_figure_is_shown_as_png_with_its_title_as_text(monkeypatch):
    import IPython.display

    from altaviz.plots import show

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda data, raw: shown.append((set(data), data["text/plain"], raw)))
    show(model_plots.reliability_curve(None))
    assert shown == [({"image/png", "text/plain"}, "[figure] Is failure_probability a probability?", True)]
