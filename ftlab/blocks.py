"""Naming the blocks and stages of a pretrained backbone, so that freezing can speak in blocks.

``block_groups`` splits a backbone's layers into its architecture's blocks (EfficientNet-Lite0's
``stem``, ``block01`` … ``block16``, ``head``; ResNet's ``conv4_block2``; …), ``stage_groups``
into stages, and ``find_backbone`` finds the backbone inside a classifier. Unknown architectures
fall back to equal slices of the layer list. :mod:`ftlab.freeze` builds on these names.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ftlab.errors import ModelError

CLASSIFIER_GROUP = "classifier"

# --------------------------------------------------------------------------------------------
# Naming the blocks of known architectures


@dataclass(frozen=True)
class _Family:
    name: str
    block_of: Callable[[str], str | None]  # layer name -> block name (None: not recognised)
    stage_of: Callable[[str], str | None]  # block name -> stage name


def _lite0_stage(block: str) -> str | None:
    from ftlab.models.lite0 import BLOCK_STAGE

    return f"stage{BLOCK_STAGE[block]}" if block in BLOCK_STAGE else block


def _lite0_block(name: str) -> str | None:
    match = re.match(r"^(stem|block\d\d|head)_", name)
    return match[1] if match else None


def _efficientnet_block(name: str) -> str | None:
    # keras.applications EfficientNet B0-B7 and V2: stem_*, block1a_* ... block7a_*, top_*
    match = re.match(r"^(stem|block\d+[a-z]|top)_", name)
    if not match:
        return None
    return "head" if match[1] == "top" else match[1]


def _efficientnet_stage(block: str) -> str | None:
    match = re.match(r"^block(\d+)[a-z]$", block)
    return f"stage{match[1]}" if match else block


_MOBILENET_V2_STAGES = (0, 1, 1, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6)  # block_0..block_16 → stage-1


def _mobilenet_v2_block(name: str) -> str | None:
    # MobileNetV2: Conv1 (stem), expanded_conv_* (block 0), block_1_* ... block_16_*, Conv_1 + out_relu
    if name.startswith("expanded_conv_"):
        return "block_0"
    match = re.match(r"^block_(\d+)_", name)
    if match:
        return f"block_{match[1]}"
    return "head" if re.match(r"^(Conv_1|out_relu)", name) else None


def _mobilenet_v2_stage(block: str) -> str | None:
    match = re.match(r"^block_(\d+)$", block)
    if match and int(match[1]) < len(_MOBILENET_V2_STAGES):
        return f"stage{_MOBILENET_V2_STAGES[int(match[1])] + 1}"
    return block


def _mobilenet_v3_block(name: str) -> str | None:
    # MobileNetV3: conv (stem), expanded_conv_* (block 0), expanded_conv_1_* ..., conv_1 (head)
    match = re.match(r"^expanded_conv(?:_(\d+))?_", name)
    if match:
        return f"block_{int(match[1] or 0)}"
    return "head" if re.match(r"^conv_1(_bn)?$", name) else None


def _resnet_block(name: str) -> str | None:
    # ResNet / ResNetV2 / DenseNet: conv1_* (stem), convN_blockM_*, post_* / bn / relu (head)
    match = re.match(r"^(conv\d+_block\d+)_", name)
    if match:
        return match[1]
    if re.match(r"^(post_bn|post_relu|bn|relu)$", name):
        return "head"
    return None


def _resnet_stage(block: str) -> str | None:
    match = re.match(r"^(conv\d+)_block\d+$", block)
    return match[1] if match else block


def _convnext_block(name: str) -> str | None:
    match = re.search(r"_stage_(\d+)_block_(\d+)_", name)
    if match:
        return f"stage{match[1]}_block{match[2]}"
    match = re.search(r"_downsampling_block_(\d+)$", name)
    if match:  # the downsampling layer in front of stage i+1
        return f"stage{int(match[1]) + 1}_downsampling"
    return None


def _convnext_stage(block: str) -> str | None:
    match = re.match(r"^(stage\d+)_", block)
    return match[1] if match else block


def _xception_block(name: str) -> str | None:
    match = re.match(r"^(block\d+)_", name)
    return match[1] if match else None


def _xception_stage(block: str) -> str | None:
    match = re.match(r"^block(\d+)$", block)
    if not match:
        return block
    index = int(match[1])
    return "entry_flow" if index <= 4 else "middle_flow" if index <= 12 else "exit_flow"


def _same(block: str) -> str:
    return block


_FAMILIES = (
    _Family("efficientnet_lite0", _lite0_block, _lite0_stage),
    _Family("efficientnet", _efficientnet_block, _efficientnet_stage),
    _Family("mobilenet_v2", _mobilenet_v2_block, _mobilenet_v2_stage),
    _Family("mobilenet_v3", _mobilenet_v3_block, _same),
    _Family("resnet_densenet", _resnet_block, _resnet_stage),
    _Family("convnext", _convnext_block, _convnext_stage),
    _Family("xception", _xception_block, _xception_stage),
)
_GLOBAL_POOLING = ("GlobalAveragePooling2D", "GlobalMaxPooling2D", "GlobalAveragePooling1D",
                   "GlobalMaxPooling1D", "GlobalAveragePooling3D", "GlobalMaxPooling3D")


def _is_input(layer) -> bool:
    return type(layer).__name__ == "InputLayer"


def _param_count(layer) -> int:
    return sum(_size(w) for w in layer.weights)


def _size(variable) -> int:
    count = 1
    for dim in variable.shape:
        count *= int(dim)
    return count


def find_backbone(model):
    """The pretrained backbone inside ``model``: a nested model holding most of the weights.

    For a classifier from ``ftlab.models.heads.build_classifier`` that is the backbone it wraps;
    for a backbone (or any flat model) it is ``model`` itself.

    Example:
        >>> find_backbone(classifier).name  # doctest: +SKIP
        'efficientnet_lite0'
    """
    import keras

    total = max(1, sum(_size(w) for w in model.weights))
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    if nested:
        biggest = max(nested, key=_param_count)
        if _param_count(biggest) * 2 > total:
            return biggest
    return model


def _group_layers(backbone) -> tuple[dict[str, list], Callable[[str], str | None]]:
    """Ordered {block: [layers]} and the stage function, for the best-matching family."""
    layers = [layer for layer in backbone.layers if not _is_input(layer)]
    weighted = [layer for layer in layers if layer.weights] or layers
    best, best_hits = None, 0
    for family in _FAMILIES:
        hits = sum(family.block_of(layer.name) is not None for layer in weighted)
        if hits > best_hits:
            best, best_hits = family, hits
    if best is not None and best_hits * 10 >= len(weighted) * 5:
        return _assign(layers, best.block_of), best.stage_of
    if any(re.match(r"^mixed\d+$", layer.name) for layer in layers):
        return _inception_groups(layers), _same
    return _generic_groups(layers), _same


def _assign(layers, block_of) -> dict[str, list]:
    """Walk layers input→output; unrecognised ones join the current group.

    Layers before the first recognised one form ``stem`` (preprocessing included); unrecognised
    layers after the final global pooling form ``head``. Only a pooling among the last few
    layers counts: squeeze-and-excitation blocks pool too, deep inside the network.
    """
    final_pool = None
    for index, layer in enumerate(layers):
        if (type(layer).__name__ in _GLOBAL_POOLING and not getattr(layer, "keepdims", False)
                and index >= len(layers) - 4):
            final_pool = index
    groups: dict[str, list] = {}
    current = "stem"
    for index, layer in enumerate(layers):
        block = block_of(layer.name)
        if block is None and final_pool is not None and index > final_pool:
            block = "head"
        if block is not None:
            current = block
        groups.setdefault(current, []).append(layer)
    return groups


def _inception_groups(layers) -> dict[str, list]:
    """InceptionV3: each ``mixedN`` concatenation closes a group named after it."""
    groups: dict[str, list] = {}
    pending: list = []
    last = None
    for layer in layers:
        pending.append(layer)
        if re.match(r"^mixed\d+$", layer.name):
            groups[layer.name] = pending
            pending, last = [], layer.name
    if pending:
        if last is None:
            groups["stem"] = pending
        else:
            groups[last].extend(pending)
    return groups


def _generic_groups(layers, parts: int = 8) -> dict[str, list]:
    """Unknown architecture: consecutive slices with about equal numbers of weighted layers."""
    weighted = [layer for layer in layers if layer.weights]
    per_part = max(1, -(-len(weighted) // parts))
    groups: dict[str, list] = {}
    seen = 0
    for layer in layers:
        index = min(seen // per_part, parts - 1) + 1
        groups.setdefault(f"part{index}", []).append(layer)
        if layer.weights:
            seen += 1
    return groups


def _outside_layers(model, backbone) -> list:
    if backbone is model:
        return []
    return [layer for layer in model.layers if layer is not backbone and not _is_input(layer)]


def block_groups(model) -> dict[str, list]:
    """The model's layers grouped into blocks, ordered from input to output.

    Works on a backbone or on a classifier that contains one. Group names follow the
    architecture's own layer names:

    * EfficientNet-Lite0 (ftlab): ``stem``, ``block01`` … ``block16``, ``head``;
    * keras EfficientNet B0–B7/V2: ``stem``, ``block1a`` … ``block7a``, ``head`` (``top_*``);
    * MobileNetV2/V3: ``stem``, ``block_0`` … ``block_16`` (V3: ``block_10``/``block_14``), ``head``;
    * ResNet(V2)/DenseNet: ``stem``, ``conv2_block1`` … ``conv5_block3``, ``head`` (V2, DenseNet);
    * ConvNeXt: ``stem``, ``stage0_block0`` …, ``stageN_downsampling``, ``head``;
    * Xception: ``block1`` … ``block14``; InceptionV3: ``mixed0`` … ``mixed10``;
    * anything else: ``part1`` … ``part8``, slices with equal numbers of weighted layers.

    Preprocessing layers belong to ``stem``. A classifier adds a last group, ``classifier``,
    with every layer outside the backbone (augmentation, dropout, the new Dense layer).

    Returns:
        ``{group name: [layers]}`` in input→output order.

    Example:
        >>> list(block_groups(backbone))[:3]  # doctest: +SKIP
        ['stem', 'block01', 'block02']
    """
    backbone = find_backbone(model)
    groups, _ = _group_layers(backbone)
    outside = _outside_layers(model, backbone)
    if outside:
        groups[CLASSIFIER_GROUP] = outside
    return groups


def stage_groups(model) -> dict[str, list]:
    """Like :func:`block_groups`, with blocks merged into the architecture's stages.

    EfficientNet-Lite0: ``stem``, ``stage1`` … ``stage7``, ``head`` (stage *s* holds the blocks of
    row *s* of the EfficientNet-B0 table: 1, 2, 2, 3, 3, 4, 1 blocks). Keras EfficientNets:
    ``stage1`` …; MobileNetV2: ``stage1`` … ``stage7``; ResNet/DenseNet: ``conv2`` … ``conv5``;
    ConvNeXt: ``stage0`` … ``stage3``; Xception: entry/middle/exit flow. Architectures without
    known stages return their blocks.

    Example:
        >>> list(stage_groups(backbone))  # doctest: +SKIP
        ['stem', 'stage1', 'stage2', 'stage3', 'stage4', 'stage5', 'stage6', 'stage7', 'head']
    """
    backbone = find_backbone(model)
    blocks, stage_of = _group_layers(backbone)
    stages: dict[str, list] = {}
    for block, layers in blocks.items():
        stages.setdefault(stage_of(block) or block, []).extend(layers)
    outside = _outside_layers(model, backbone)
    if outside:
        stages[CLASSIFIER_GROUP] = outside
    return stages


def groups_of(model, by: str = "stage") -> dict:
    """``{group: [layers]}`` by ``"stage"`` (:func:`stage_groups`) or ``"block"`` (:func:`block_groups`)."""
    if by == "stage":
        return stage_groups(model)
    if by == "block":
        return block_groups(model)
    raise ModelError(f"by={by!r}: use 'stage' or 'block'")

