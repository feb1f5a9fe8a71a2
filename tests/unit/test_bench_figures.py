"""bench/figures.py: a figure is judged against its target and its previous run, in its own direction."""

from __future__ import annotations

from bench.figures import Figure, previous_values, table


def test_a_target_is_met_in_the_figure_s_own_direction():
    assert Figure("a.rate", "rate", 310, "MB/s", 300).met() is True
    assert Figure("a.rate", "rate", 290, "MB/s", 300).met() is False
    assert Figure("a.rss", "rss", 200, "MB", 200, "lower").met() is True
    assert Figure("a.rss", "rss", 201, "MB", 200, "lower").met() is False
    assert Figure("a.free", "reported only", 5, "MB").met() is None


def test_worse_means_past_the_tolerance_in_the_wrong_direction():
    rate = Figure("a.rate", "rate", 85, "MB/s")
    assert rate.worse_than(100) and not rate.worse_than(90) and not rate.worse_than(None)
    rss = Figure("a.rss", "rss", 120, "MB", better="lower")
    assert rss.worse_than(100) and not rss.worse_than(115) and not rss.worse_than(200)


def test_the_table_puts_each_figure_beside_its_target_anchor_and_previous_value():
    figures = [
        Figure("mime.rate", "store 100 MB", 350.0, "MB/s", 300, anchors={"old way": 132.0}),
        Figure("stack.idle_rss", "idle RSS", 230.0, "MB", 200, "lower"),
    ]
    previous = previous_values({"figures": {"mime.rate": {"value": 32.0}, "stack.idle_rss": {"value": 190.0}}})
    text = table(figures, previous)
    rate_line = next(line for line in text.splitlines() if "store 100 MB" in line)
    assert "350" in rate_line and ">= 300" in rate_line and "32" in rate_line and "old way 132" in rate_line
    assert "ok" in rate_line and "worse" not in rate_line
    rss_line = next(line for line in text.splitlines() if line.strip().startswith("idle RSS"))
    assert "MISS worse" in rss_line
    assert "1 met, 1 missed" in text
    assert "[MISS] idle RSS: 230 MB, target <= 200" in text and "[worse] idle RSS: 230 MB, was 190" in text


def test_a_results_file_from_before_figures_has_no_previous_values():
    assert previous_values({"idle": {"total_rss_mb": 265}}) == {} and previous_values(None) == {}


def test_the_idle_rss_after_a_burst_is_a_figure_once_measured():
    import json

    from bench import report
    from pipeline.config import BASE_DIR

    results = json.loads((BASE_DIR / "bench" / "results.json").read_text())
    results.pop("idle_after", None)
    assert "stack.idle_rss_after_burst" not in {figure.key for figure in report.figures(results)}
    results["idle_after"] = {"mails": 200, "settle_s": 20, "processes": {}, "total_rss_mb": 190.0, "total_pss_mb": 1}
    after = next(figure for figure in report.figures(results) if figure.key == "stack.idle_rss_after_burst")
    assert (after.value, after.target, after.better, after.met()) == (190.0, 200, "lower", True)
    assert "20 s after a burst of 200 mails" in after.label
