"""The ``.keras`` model file of ``ftlab finetune --out``: a plain Keras model plus ftlab's metadata.

Holds :func:`save_model` and :func:`load_model` (``ftlab.train`` re-exports them); used by
``ftlab finetune`` / ``evaluate`` / ``predict`` and lesson 01. Keras is imported inside the functions.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

from ftlab.errors import ModelError

METADATA_ENTRY = "ftlab.json"
# How a .keras config.json names a class registered by ftlab (package="ftlab").
_REGISTERED_FTLAB_NAME = re.compile(r'"registered_name":\s*"(ftlab>\w+)"')


def save_model(model, path, config: dict) -> Path:
    """Save a classifier as ``.keras`` with ftlab's metadata (class names, image size) inside.

    The metadata is an extra ``ftlab.json`` entry in the ``.keras`` zip, which Keras ignores,
    so the file stays a plain Keras model and carries everything ``ftlab evaluate`` needs.
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise ModelError(f"{path}: the model file name must end in .keras")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.keras")
    try:
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as archive:
            archive.writestr(METADATA_ENTRY, json.dumps(config))
        tmp.replace(path)
    except BaseException:  # an interrupted save (Ctrl-C, full disk) leaves no X.keras.tmp.keras behind
        tmp.unlink(missing_ok=True)
        raise
    return path


def _first_sentence(error: BaseException, limit: int = 120) -> str:
    text = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    text = text.strip().splitlines()[0] if text.strip() else ""
    text = text.split(". ")[0]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def load_model(path):
    """Load a classifier saved by :func:`save_model`; returns ``(model, config)``.

    ftlab's own Keras layers that the file uses (e.g. ResNet-50's ``CaffePreprocessing``) are
    registered first (:func:`ftlab.models.backbones.register_custom_objects`), so a model saved by
    one process loads in a fresh one.

    Raises:
        ModelError: the file is missing, not a Keras model, or lacks ftlab's metadata.
    """
    import keras

    from ftlab.models import backbones

    path = Path(path)
    if path.is_dir():
        inside = sorted(path.glob("*.keras"))
        example = inside[0] if inside else path / "model.keras"
        raise ModelError(f"{path} is a folder, not a model file: pass a .keras file, e.g. {example}")
    if not path.is_file():
        out = path if path.suffix == ".keras" else path.with_suffix(".keras")
        raise ModelError(f"{path}: no such model file; train one with `ftlab finetune --out {out}`")
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.namelist()
            config = json.loads(archive.read(METADATA_ENTRY)) if METADATA_ENTRY in entries else {}
            keras_config = (
                archive.read("config.json").decode("utf-8", "replace") if "config.json" in entries else ""
            )
        if not isinstance(config, dict):
            raise ValueError(f"{METADATA_ENTRY} is not a JSON object")
        backbones.register_custom_objects(_REGISTERED_FTLAB_NAME.findall(keras_config))
        model = keras.saving.load_model(path, compile=False)
        if "class_names" not in config:
            output_units = int(model.output_shape[-1])
            config["class_names"] = [str(i) for i in range(output_units)]
            config.setdefault("image_size", int(model.input_shape[1]))
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        OSError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        UnicodeDecodeError,
    ) as error:
        detail = _first_sentence(error)
        raise ModelError(
            f"{path}: cannot read this model file ({type(error).__name__}"
            f"{': ' + detail if detail else ''}); "
            "pass a .keras file written by `ftlab finetune --out`"
        ) from None
    return model, config
