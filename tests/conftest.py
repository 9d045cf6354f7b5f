import os

import pytest

os.environ.setdefault("FTLAB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


# Slow tests are marked `slow`: `make unit` (the developer loop) leaves them out, `make test` and CI run
# them all. Nothing is skipped: a slow test is either selected or deselected. Slow are the whole-system
# modules (a real browser, `make lab`, Binder's files, the course runner, the solutions' build, the CLI
# end to end in real processes, the real 135 M-parameter SmolLM2) and, by name, single tests that
# train a network or start a fresh Python; `pytest --durations=30 -m "not slow" tests` shows what to add.
SLOW_MODULES = {
    "test_browser", "test_makefile", "test_binder", "test_run_course", "test_solutions",
    "test_cli", "test_cli_faults", "test_text_cli", "test_video_cli", "test_skin_cli", "test_bundled_data",
    "test_text_smollm2",
}
SLOW_TESTS = {
    "test_backbones.py::test_bundled_backbone_has_imagenet_weights_at_any_size",
    "test_backbones.py::test_every_feature_dim_is_right",
    "test_backbones.py::test_keras_applications_build_without_network_when_weights_none",
    "test_backbones.py::test_register_custom_objects_in_a_fresh_process",
    "test_backup.py::test_a_kill_while_the_backup_is_written_never_poisons_the_next_run",
    "test_explain.py::test_grad_cam_on_efficientnet_lite0_classifier",
    "test_forgetting.py::test_changing_backbone_weights_shows_up_as_forgetting",
    "test_forgetting.py::test_reattached_head_of_an_untouched_backbone_is_the_original_model",
    "test_imagenet.py::test_predict_from_arrays_paths_and_batches",
    "test_lite0.py::test_headless_model_at_another_size_loads_the_same_weights",
    "test_lite0.py::test_pooling_choices_and_variable_size",
    "test_lr.py::test_finder_restores_the_model_and_finds_a_sensible_range",
    "test_lr.py::test_gradual_unfreezing_unfreezes_top_down_during_fit",
    "test_network_map.py::test_callback_lights_the_map_and_records_the_curves",
    "test_package.py::test_lazy_attribute_access_without_import",
    "test_settings.py::test_probe_with_a_hanging_dns_lookup_answers_offline_within_the_limit",
    "test_text_generate.py::test_closing_the_panel_and_the_map_lets_the_model_be_freed",
    "test_text_generate.py::test_generate_respects_max_length",
    "test_text_generate.py::test_greedy_is_deterministic_and_matches_keras_hub",
    "test_text_generate.py::test_sampling_is_repeatable_with_a_seed_and_varies_without",
    "test_text_generate.py::test_side_by_side_columns_equal_single_generations",
    "test_text_model.py::test_pretrained_model_knows_general_english_a_random_one_does_not",
    "test_text_model.py::test_save_and_load_keras_file_round_trip_with_lora_merged",
    "test_text_train.py::test_a_model_that_was_scored_and_sampled_can_be_freed",
    "test_text_train.py::test_corpus_smaller_than_one_window_warns_and_still_trains",
    "test_text_train.py::test_fine_tune_drops_the_traced_functions_it_made_stale",
    "test_text_train.py::test_fine_tuning_learns_a_text_and_reports_what_it_did",
    "test_text_train.py::test_lora_fine_tuning_changes_only_the_adapters",
    "test_train.py::test_balanced_class_weight_reaches_both_phases_on_an_imbalanced_folder",
    "test_train.py::test_finetune_two_phases_never_worse_than_head",
    "test_train.py::test_interrupted_finetune_resumes_from_its_backup",
    "test_train.py::test_model_with_ftlab_layers_loads_in_a_fresh_process",
    "test_train.py::test_rejected_finetuning_restores_the_head_phase_weights",
    "test_train.py::test_validation_labels_change_no_training_decision",
    "test_video_models.py::test_real_lite0_inflated_whole_and_from_a_block_matches_2d",
    "test_video_train.py::test_motion_models_beat_the_single_frame_baseline",
    "test_widgets.py::test_calibration_measures_and_says_so",
}


def _name(item) -> str:
    """``test_module.py::test_function`` (parameters dropped)."""
    return f"{item.path.name}::{getattr(item, 'originalname', item.name)}"


def pytest_collection_modifyitems(config, items):
    seen = set()
    for item in items:
        module = getattr(item, "module", None)
        name = _name(item)
        seen.add(name)
        if (module is not None and module.__name__.rsplit(".", 1)[-1] in SLOW_MODULES) or name in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
    modules = {item.path.name for item in items}
    stale = sorted(n for n in SLOW_TESTS if n.split("::")[0] in modules and n not in seen)
    if stale:  # a renamed test would silently join the fast loop
        raise pytest.UsageError(f"tests/conftest.py SLOW_TESTS names tests that do not exist: {stale}")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Each test gets its own FTLAB_CACHE so caches never leak between tests or into ~/.cache."""
    monkeypatch.setenv("FTLAB_CACHE", str(tmp_path_factory.mktemp("ftlab-cache")))


@pytest.fixture(scope="session")
def smollm2_cache(tmp_path_factory):
    """One FTLAB_CACHE for the whole session holding SmolLM2's converted weights (converted once, ~20 s)."""
    return tmp_path_factory.mktemp("smollm2-cache")


@pytest.fixture(autouse=True)
def _answers_not_required():
    """``ftlab.checks.require_answers()`` is global: a test that switches it on never leaks it."""
    yield
    from ftlab import checks

    checks.require_answers(False)


# .keras files that are valid zips but no Keras model: each must be a one-line ModelError.
NOT_KERAS_MODELS = {
    "notes.keras": {"notes.txt": "a zip, but no model"},
    "list.keras": {"config.json": "[1, 2]", "metadata.json": "{}"},
    "number.keras": {"config.json": "3", "metadata.json": "{}"},
    "unknown.keras": {
        "config.json": '{"class_name": "NoSuchLayer", "module": "nowhere", "config": {}}',
        "metadata.json": "{}",
    },
    "badmeta.keras": {"ftlab.json": "[]", "config.json": "{}"},
}


def write_not_keras_models(folder):
    """Write :data:`NOT_KERAS_MODELS` into ``folder``; returns their paths."""
    import zipfile

    paths = []
    for name, entries in NOT_KERAS_MODELS.items():
        with zipfile.ZipFile(folder / name, "w") as archive:
            for entry, text in entries.items():
                archive.writestr(entry, text)
        paths.append(folder / name)
    return paths


def write_photo_folder(root, per_class=8, size=128, seed=0):
    """Write a small folder of real-looking photos: random crops of scikit-image's cat and coffee photos."""
    import numpy as np
    from PIL import Image
    from skimage import data

    rng = np.random.default_rng(seed)
    sources = {"cat": data.chelsea(), "coffee": data.coffee()}
    for name, photo in sources.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        h, w = photo.shape[:2]
        for i in range(per_class):
            crop = int(min(h, w) * rng.uniform(0.7, 1.0))
            top, left = rng.integers(0, h - crop + 1), rng.integers(0, w - crop + 1)
            image = Image.fromarray(photo[top:top + crop, left:left + crop]).resize((size, size))
            if rng.random() < 0.5:
                image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            image.save(folder / f"{name}_{i:03d}.jpg", quality=90)
    return root


@pytest.fixture
def photo_folder(tmp_path):
    return write_photo_folder(tmp_path / "photos")


def jupyter_landing_page(arguments, env, tmp_path, probe_paths=()):
    """Start JupyterLab with ``arguments`` on a free port; return where ``/`` redirects, and probes.

    Args:
        arguments: JupyterLab options (``--ServerApp.root_dir=…`` …), after ``python -m jupyterlab``.
        env: the server's environment.
        tmp_path: for the runtime folder and the server's log.
        probe_paths: URL paths to GET once the server answers; their HTTP status codes are returned.

    Returns:
        (the ``Location`` that ``/`` redirects to, {path: status}). The server is always stopped.
    """
    import secrets
    import socket
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token = secrets.token_hex(16)
    env = dict(env, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    command = [sys.executable, "-m", "jupyterlab", *arguments, "--no-browser", "--ServerApp.ip=127.0.0.1"]
    command += [f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}"]
    if os.geteuid() == 0 and "--allow-root" not in command:
        command.append("--allow-root")
    log = tmp_path / "server.log"
    with open(log, "wb") as output:
        server = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        opener = urllib.request.build_opener(NoRedirect)
        deadline = time.monotonic() + 60
        location = None
        while location is None:
            assert server.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, f"no redirect from JupyterLab on {port}:\n{log.read_text()[-2000:]}"
            try:
                with opener.open(f"http://127.0.0.1:{port}/?token={token}", timeout=2) as response:
                    pytest.fail(f"/ answered {response.status} instead of redirecting")
            except urllib.error.HTTPError as response:
                assert response.code in (301, 302, 303, 307), f"/ answered {response.code}"
                location = response.headers["Location"]
            except OSError:
                time.sleep(0.3)
        statuses = {}
        for path in probe_paths:
            try:
                with opener.open(f"http://127.0.0.1:{port}{path}?token={token}", timeout=10) as response:
                    statuses[path] = response.status
            except urllib.error.HTTPError as response:
                statuses[path] = response.code
        return location, statuses
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


@pytest.fixture
def refused_before_work(monkeypatch):
    """Fail the test if a CLI command gets as far as reading images or clips, loading a language
    model, or training."""
    from ftlab import train
    from ftlab.data import images
    from ftlab.text import model
    from ftlab.video import reader

    def reached(*args, **kwargs):
        raise AssertionError("the bad option should have been refused before reading data or training")

    monkeypatch.setattr(images, "load_image_folder", reached)
    monkeypatch.setattr(reader, "load_video_folder", reached)
    monkeypatch.setattr(train, "finetune", reached)
    monkeypatch.setattr(model, "load_lm", reached)
