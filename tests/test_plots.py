import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ftlab import plots  # noqa: E402


def test_history_dict_accepts_history_dicts_and_epoch_logs():
    class FakeHistory:
        history = {"loss": [1, 0.5]}

    assert plots.history_dict(FakeHistory()) == {"loss": [1.0, 0.5]}
    assert plots.history_dict([{"loss": 1, "accuracy": 0.5}, {"loss": 0.5, "accuracy": 0.7}]) == {
        "loss": [1.0, 0.5], "accuracy": [0.5, 0.7]}
    with pytest.raises(TypeError):
        plots.history_dict(3)


def test_plot_history_one_panel_per_metric_train_and_validation():
    history = {"loss": [1.0, 0.6, 0.4], "val_loss": [1.1, 0.8, 0.7], "accuracy": [0.5, 0.7, 0.8],
               "val_accuracy": [0.4, 0.6, 0.65]}
    fig = plots.plot_history(history, title="run")
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss", "accuracy"]
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["train", "validation"]
    assert lines[1].get_linestyle() == "--"
    assert list(lines[0].get_ydata()) == [1.0, 0.6, 0.4]
    assert fig._suptitle.get_text() == "run"


def test_plot_history_overlays_runs():
    fig = plots.plot_history({"frozen": {"loss": [1, 0.5]}, "fine-tuned": {"loss": [1, 0.3], "val_loss": [1, 0.4]}},
                             metrics=["loss"])
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels == ["frozen train", "fine-tuned train", "fine-tuned validation"]


def test_strategy_comparison_bars_and_labels():
    results = [{"strategy": "scratch", "accuracy": 0.4, "seconds": 30.0, "forgetting": 0.0},
               {"strategy": "feature extraction", "accuracy": 0.9, "seconds": 1.5, "forgetting": 0.0},
               {"strategy": "full fine-tuning", "accuracy": 0.92, "seconds": 60.0, "forgetting": 0.3}]
    fig = plots.plot_strategy_comparison(results, title="lesson 01")
    assert len(fig.axes) == 3
    widths = [patch.get_width() for patch in fig.axes[1].patches]
    assert widths == [30.0, 1.5, 60.0]
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["scratch", "feature extraction",
                                                                     "full fine-tuning"]
    texts = [t.get_text() for t in fig.axes[2].texts]
    assert "30%" in texts
    assert "forgetting" in fig.axes[2].get_title() or "changed" in fig.axes[2].get_title()


def test_lr_finder_plot_marks_the_range():
    from ftlab.lr import LRFinderResult, smooth_losses

    lrs = np.logspace(-5, 0, 40)
    losses = 2 - np.tanh(np.log10(lrs) + 2.5) + np.where(lrs > 0.1, 10 * lrs, 0)
    result = LRFinderResult(lrs, losses, smooth_losses(losses), 3e-3, 0.1, (1e-3, 1e-2), False)
    fig = plots.plot_lr_finder(result)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    labels = [h.get_label() for h in ax.get_legend().legend_handles]
    assert any(label.startswith("good range") for label in labels)
    assert any(label.startswith("steepest fall") for label in labels)


def test_image_grid_titles_and_colours():
    images = np.zeros((5, 8, 8, 3), np.uint8)
    fig = plots.image_grid(images, labels=[0, 1, 1, 0, 1], class_names=["cat", "dog"], predictions=[0, 0, 1, 0, 1],
                           ncols=3)
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in titled] == ["cat", "cat (dog)", "dog", "cat", "dog"]
    assert titled[1].title.get_color() == "red" and titled[0].title.get_color() == "green"
    assert len(fig.axes) == 6  # 2 rows × 3, the last one blank
    floats = plots.image_grid(np.ones((2, 4, 4, 3)) * 0.5)
    assert floats.axes[0].get_images()[0].get_array().max() == 127
    with pytest.raises(ValueError):
        plots.image_grid(np.zeros((0, 4, 4, 3)))
