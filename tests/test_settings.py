import socket
import threading
import time

import pytest

from ftlab import settings

# --- offline mode ----------------------------------------------------------------------------------


@pytest.fixture
def network_calls(monkeypatch):
    """Record (and refuse) every DNS look-up and TCP connect the probe would make."""
    calls = []

    def refuse(name):
        def call(*args, **kwargs):
            calls.append((name, args))
            raise OSError(f"test: no network ({name})")

        return call

    monkeypatch.setattr(settings.socket, "getaddrinfo", refuse("getaddrinfo"))
    monkeypatch.setattr(settings.socket, "create_connection", refuse("create_connection"))
    return calls


@pytest.mark.parametrize("value, expected", [("1", True), ("0", False)])
def test_offline_flag_decides_without_touching_the_network(monkeypatch, network_calls, value, expected):
    monkeypatch.setenv("FTLAB_OFFLINE", value)
    monkeypatch.setattr(settings, "_offline_probe_result", None)  # nothing remembered: a probe would run
    started = threading.Thread.start
    monkeypatch.setattr(
        settings.threading.Thread,
        "start",
        lambda self: network_calls.append(("thread", self.name)) or started(self),
    )
    assert settings.is_offline() is expected
    assert network_calls == []
    assert settings._offline_probe_result is None


def test_probe_with_a_hanging_dns_lookup_answers_offline_within_the_limit(monkeypatch):
    """getaddrinfo ignores create_connection's timeout; the probe must not wait for it."""
    monkeypatch.delenv("FTLAB_OFFLINE", raising=False)
    monkeypatch.setattr(settings, "_offline_probe_result", None)
    release, probe_threads = threading.Event(), []

    def hanging_getaddrinfo(*args, **kwargs):
        probe_threads.append(threading.current_thread())
        release.wait(10)  # a resolver that hangs for 10 s
        raise socket.gaierror("test: resolver gave up")

    monkeypatch.setattr(settings.socket, "getaddrinfo", hanging_getaddrinfo)
    try:
        start = time.monotonic()
        result = settings.is_offline()
        elapsed = time.monotonic() - start
        assert result is True
        assert elapsed < 3.0, f"probe took {elapsed:.1f} s"
        assert probe_threads and probe_threads[0] is not threading.current_thread()
        assert probe_threads[0].daemon  # a hung probe never keeps the interpreter alive
    finally:
        release.set()  # let the probe thread finish while getaddrinfo is still the fake one
        for thread in probe_threads:
            thread.join(5)
    assert settings._offline_probe_result is True  # remembered


def test_probe_finds_a_reachable_host_online(monkeypatch):
    """A listening socket on 127.0.0.1 stands in for the download hosts."""
    monkeypatch.delenv("FTLAB_OFFLINE", raising=False)
    monkeypatch.setattr(settings, "_offline_probe_result", None)
    with socket.create_server(("127.0.0.1", 0)) as server:
        monkeypatch.setattr(settings, "_PROBE_HOSTS", (("127.0.0.1", server.getsockname()[1]),))
        assert settings.is_offline() is False
    assert settings._offline_probe_result is False


def test_probe_result_is_remembered(monkeypatch, network_calls):
    monkeypatch.delenv("FTLAB_OFFLINE", raising=False)
    monkeypatch.setattr(settings, "_offline_probe_result", True)
    assert settings.is_offline() is True
    assert network_calls == []


# --- quick mode, cache, seeds ----------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("0", False), ("", False)])
def test_quick_mode(monkeypatch, value, expected):
    monkeypatch.setenv("FTLAB_QUICK", value)
    assert settings.is_quick() is expected
    assert settings.quick_or("q", "full") == ("q" if expected else "full")


def test_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("FTLAB_CACHE", str(tmp_path / "c"))
    path = settings.cache_dir("features")
    assert path == tmp_path / "c" / "features" and path.is_dir()


def test_seed_everything_makes_numpy_repeatable():
    import numpy as np

    settings.seed_everything(7)
    a = np.random.rand(3)
    settings.seed_everything(7)
    assert (a == np.random.rand(3)).all()


# --- device: GPUs are faked, so these hold on a CPU and on a GPU machine ----------------------------


@pytest.fixture
def float32_afterwards():
    """device_report() changes Keras' global policy; put float32 back whatever happens."""
    import keras

    try:
        yield keras.mixed_precision
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.fixture
def fake_gpus(monkeypatch, float32_afterwards):
    """fake_gpus(n): TensorFlow reports n GPUs (0 hides real ones); other device types unchanged."""
    tf = settings.import_tensorflow()
    real = tf.config.list_physical_devices

    def use(n):
        devices = [
            tf.config.PhysicalDevice(name=f"/physical_device:GPU:{i}", device_type="GPU") for i in range(n)
        ]

        def list_physical_devices(device_type=None):
            if device_type == "GPU":
                return list(devices)
            others = [d for d in real(device_type) if d.device_type != "GPU"]
            return others + list(devices) if device_type is None else others

        monkeypatch.setattr(tf.config, "list_physical_devices", list_physical_devices)
        return tf

    return use


def test_one_gpu_switches_on_mixed_precision(fake_gpus, float32_afterwards):
    fake_gpus(1)
    report = settings.device_report()
    assert report.kind == "GPU ×1" and report.gpus == ["/physical_device:GPU:0"]
    assert report.mixed_precision is True
    assert float32_afterwards.global_policy().name == "mixed_float16"
    assert "device: GPU ×1" in str(report) and "precision: mixed_float16" in str(report)
    assert report.distribution == "single device"


def test_gpu_without_mixed_precision_when_asked(fake_gpus, float32_afterwards):
    fake_gpus(1)
    report = settings.device_report(enable_mixed_precision=False)
    assert report.kind == "GPU ×1" and report.mixed_precision is False
    assert float32_afterwards.global_policy().name == "float32"


def test_no_gpu_keeps_float32(fake_gpus, float32_afterwards):
    fake_gpus(0)
    report = settings.device_report()
    assert report.kind == "CPU" and report.gpus == [] and report.mixed_precision is False
    assert float32_afterwards.global_policy().name == "float32"
    assert "device: CPU" in str(report) and "precision: float32" in str(report)


def test_two_gpus_choose_mirrored_strategy(fake_gpus, monkeypatch):
    tf = fake_gpus(2)
    built = []

    class FakeMirroredStrategy:  # the real one would look for the two (fake) GPUs
        def __init__(self, *args, **kwargs):
            built.append((args, kwargs))

    monkeypatch.setattr(tf.distribute, "MirroredStrategy", FakeMirroredStrategy)
    assert isinstance(settings.distribution_strategy(), FakeMirroredStrategy) and len(built) == 1
    report = settings.device_report()
    assert report.kind == "GPU ×2" and report.distribution == "MirroredStrategy available"


@pytest.mark.parametrize("n", [0, 1])
def test_fewer_than_two_gpus_use_the_default_strategy(fake_gpus, monkeypatch, n):
    tf = fake_gpus(n)
    monkeypatch.setattr(
        tf.distribute, "MirroredStrategy", lambda *a, **k: pytest.fail("MirroredStrategy built")
    )
    assert settings.distribution_strategy() is tf.distribute.get_strategy()


@pytest.mark.parametrize("n_gpus", [0, 1])
def test_setup_reports_mode_and_device(monkeypatch, capsys, fake_gpus, n_gpus):
    fake_gpus(n_gpus)
    monkeypatch.setenv("FTLAB_OFFLINE", "1")
    monkeypatch.setenv("FTLAB_QUICK", "1")
    info = settings.setup(seed=3)
    out = capsys.readouterr().out
    assert "OFFLINE" in out and "QUICK" in out and "seed 3" in out
    device = info["device"]
    if n_gpus:
        assert (
            device.kind == "GPU ×1" and device.mixed_precision is True and "precision: mixed_float16" in out
        )
    else:
        assert device.kind == "CPU" and device.mixed_precision is False and "device: CPU" in out


def test_retracing_warnings_are_dropped_and_others_kept():
    import logging

    from ftlab import settings

    tf = settings.import_tensorflow()
    logger = tf.get_logger()
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    handler = Keep()
    logger.addHandler(handler)
    try:
        logger.warning("5 out of the last 8 calls to <function f> triggered tf.function retracing. Tracing is expensive")
        logger.warning("something a learner should see")
    finally:
        logger.removeHandler(handler)
    assert records == ["something a learner should see"]
