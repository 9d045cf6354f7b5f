"""Drawing one SYNTHETIC dermoscopy image: the colours, per-diagnosis styles and :func:`render_lesion`.

What :func:`ftlab.skin.synthetic.make_synthetic_dermoscopy` calls once per image (the generator's
design is described in :mod:`ftlab.skin.synthetic`, which re-exports every name here). Lesson 02.
"""

from __future__ import annotations

import functools

import numpy as np

from ftlab.skin.classes import DX_CODES

FIELD_OF_VIEW_MM = 20.0  # the image's width stands for 20 mm of skin: diameter_mm = radius * 20

# Colours (RGB 0..255) of dermoscopic structures, rough textbook values.
COLOURS = {
    "tan": (196, 150, 110),
    "light_brown": (170, 112, 72),
    "brown": (132, 80, 48),
    "dark_brown": (84, 48, 30),
    "black": (38, 28, 28),
    "blue_grey": (96, 108, 132),
    "red": (190, 72, 72),
    "pink": (222, 150, 148),
    "white": (228, 220, 216),
    "purple": (118, 44, 78),
    "maroon": (146, 32, 44),
}

# Per diagnosis: asymmetry and border-irregularity Beta(a, b); radius range (half image = 1);
# edge fuzziness; palette; how many palette colours a typical case shows.
CLASS_STYLE = {
    "akiec": dict(asym=(2.0, 4.0), border=(3.0, 3.5), radius=(0.26, 0.5), fuzz=(0.06, 0.12),
                  palette=("pink", "red", "light_brown", "white"), colours=(2, 3)),
    "bcc": dict(asym=(2.0, 4.0), border=(2.0, 4.0), radius=(0.22, 0.45), fuzz=(0.02, 0.06),
                palette=("pink", "white", "blue_grey", "light_brown"), colours=(1, 3)),
    "bkl": dict(asym=(2.0, 4.0), border=(2.5, 4.0), radius=(0.25, 0.5), fuzz=(0.01, 0.04),
                palette=("tan", "light_brown", "brown"), colours=(1, 3)),
    "df": dict(asym=(1.5, 8.0), border=(1.5, 6.0), radius=(0.15, 0.28), fuzz=(0.05, 0.1),
               palette=("light_brown", "tan", "pink"), colours=(1, 2)),
    "mel": dict(asym=(4.0, 2.5), border=(4.0, 2.5), radius=(0.3, 0.58), fuzz=(0.01, 0.05),
                palette=("brown", "dark_brown", "black", "blue_grey", "red", "white", "light_brown"),
                colours=(3, 5)),
    "nv": dict(asym=(1.5, 8.0), border=(1.5, 8.0), radius=(0.16, 0.36), fuzz=(0.01, 0.04),
               palette=("light_brown", "brown", "dark_brown", "tan"), colours=(1, 2)),
    "vasc": dict(asym=(1.5, 6.0), border=(1.5, 6.0), radius=(0.15, 0.32), fuzz=(0.01, 0.03),
                 palette=("red", "maroon", "purple"), colours=(2, 3)),
}
# Share of each class drawn as an atypical case that borrows another class's look.
ATYPICAL_SHARE = {"mel": 0.45, "nv": 0.15, "bkl": 0.3, "akiec": 0.3, "bcc": 0.25, "df": 0.25, "vasc": 0.2}
ATYPICAL_LOOKALIKE = {"mel": "nv", "nv": "mel", "bkl": "mel", "akiec": "bkl", "bcc": "nv", "df": "nv", "vasc": "bcc"}


@functools.lru_cache(maxsize=64)
def _upsampler(size: int, cells: int) -> np.ndarray:
    """``(size, cells + 2)`` Gaussian-bump weights that turn a coarse grid into a smooth row."""
    centres = (np.arange(cells + 2) - 0.5) / cells
    pixels = (np.arange(size) + 0.5) / size
    weights = np.exp(-0.5 * ((pixels[:, None] - centres[None, :]) * cells / 0.6) ** 2)
    return weights / weights.sum(axis=1, keepdims=True)


def _smooth_noise(rng, size: int, cells: int) -> np.ndarray:
    """Smooth random field in [-1, 1] with about ``cells`` bumps per side (separable, fast)."""
    w = _upsampler(size, cells)
    out = w @ rng.normal(size=(cells + 2, cells + 2)) @ w.T
    return out / (np.abs(out).max() + 1e-6)


def _draw_curves(rng, size, count, length, width, wiggle, start_points=None, branch=0.0) -> np.ndarray:
    """Anti-aliased-ish mask (0..1) of random smooth curves (hairs, vessels)."""
    from scipy import ndimage

    mask = np.zeros((size, size))
    steps = max(8, int(length * size))
    for k in range(count):
        if start_points is not None:
            x, y = start_points[k % len(start_points)]
        else:
            x, y = rng.uniform(0, size, 2)
        angle = rng.uniform(0, 2 * np.pi)
        for _ in range(steps):
            angle += rng.normal(0, wiggle)
            x += np.cos(angle) * 0.7
            y += np.sin(angle) * 0.7
            ix, iy = int(x), int(y)
            if not (0 <= ix < size and 0 <= iy < size):
                break
            mask[iy, ix] = 1.0
            if branch and rng.random() < branch:
                angle += rng.choice([-0.9, 0.9])
    if width > 0:
        mask = ndimage.gaussian_filter(mask, width) * (2 * np.pi * width**2) ** 0.5
    return np.clip(mask, 0, 1)


def _blobs(xx, yy, centres, radii, softness) -> np.ndarray:
    """Union (max) of soft discs."""
    out = np.zeros_like(xx)
    for (cx, cy), r in zip(centres, radii, strict=True):
        d = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)
        out = np.maximum(out, 1.0 / (1.0 + np.exp((d - r) / softness)))
    return out


def _lerp(a, b, t):
    return a + (b - a) * t


# Skin colours from very light to very dark (RGB), interpolated piecewise by skin_tone 0..1.
SKIN_RAMP = np.array([[242.0, 212.0, 196.0], [226.0, 178.0, 150.0], [190.0, 134.0, 98.0],
                      [140.0, 92.0, 62.0], [92.0, 58.0, 40.0]])


def _skin_colour(tone: float) -> np.ndarray:
    position = np.clip(tone, 0.0, 1.0) * (len(SKIN_RAMP) - 1)
    low = min(int(position), len(SKIN_RAMP) - 2)
    return _lerp(SKIN_RAMP[low], SKIN_RAMP[low + 1], position - low)


def render_lesion(rng, code: str, size: int = 96, skin_tone: float | None = None,
                  atypical: bool | None = None) -> tuple[np.ndarray, dict]:
    """Draw one synthetic dermoscopy image of diagnosis ``code``.

    Args:
        rng: a ``numpy.random.Generator``.
        code: one of the seven dx codes.
        size: side in pixels.
        skin_tone: 0 (very light) .. 1 (very dark); None draws one skewed light like HAM10000.
        atypical: force or forbid an atypical (look-alike) case; None draws it.

    Returns:
        ``(image uint8 (size, size, 3), attributes dict)``.
    """
    if code not in CLASS_STYLE:
        raise KeyError(f"unknown dx code {code!r}; known codes: {', '.join(DX_CODES)}")
    style = CLASS_STYLE[code]
    if atypical is None:
        atypical = bool(rng.random() < ATYPICAL_SHARE[code])
    mix = rng.uniform(0.45, 0.9) if atypical else 0.0  # how far toward the look-alike's style
    other = CLASS_STYLE[ATYPICAL_LOOKALIKE[code]]
    typicality = 1.0 - mix

    def draw(key):
        a = rng.beta(*style[key])
        return _lerp(a, rng.beta(*other[key]), mix)

    asymmetry, border = draw("asym"), draw("border")
    radius = _lerp(rng.uniform(*style["radius"]), rng.uniform(*other["radius"]), mix)
    fuzz = _lerp(rng.uniform(*style["fuzz"]), rng.uniform(*other["fuzz"]), mix)
    if skin_tone is None:
        skin_tone = float(rng.beta(1.3, 8.0))  # mostly light skin, as in HAM10000

    lin = (np.arange(size) + 0.5) / size * 2 - 1
    xx, yy = np.meshgrid(lin, lin)

    # skin: tone, mottling, a device colour cast
    skin = _skin_colour(skin_tone) * (1 + rng.normal(0, 0.02, 3))
    image = np.broadcast_to(skin, (size, size, 3)).copy()
    image *= 1 + 0.05 * _smooth_noise(rng, size, 4)[..., None]

    # lesion outline: low harmonics = asymmetry, high harmonics = irregular border
    cx, cy = rng.normal(0, 0.07, 2)
    stretch = rng.uniform(0.85, 1.15)
    tilt = rng.uniform(0, np.pi)
    dx, dy = xx - cx, yy - cy
    u = (dx * np.cos(tilt) + dy * np.sin(tilt)) * stretch
    v = (-dx * np.sin(tilt) + dy * np.cos(tilt)) / stretch
    theta, dist = np.arctan2(v, u), np.sqrt(u**2 + v**2)
    phases = rng.uniform(0, 2 * np.pi, 16)
    outline = 1 + asymmetry * (0.32 * np.cos(theta - phases[0]) + 0.2 * np.cos(2 * theta - phases[1]))
    for k in range(5, 13):
        outline += border * rng.normal(0, 0.09) * np.cos(k * theta - phases[k])
    r_theta = radius * np.clip(outline, 0.45, 1.9)
    mask = 1.0 / (1.0 + np.exp((dist - r_theta) / max(fuzz * radius, 0.006)))

    # colours: a few palette colours in smooth regions; asymmetric lesions get lopsided colour
    n_colours = int(round(_lerp(rng.integers(style["colours"][0], style["colours"][1] + 1),
                                rng.integers(other["colours"][0], other["colours"][1] + 1), mix)))
    palette_names = list(style["palette"])
    first = palette_names[:2] if code != "mel" else palette_names[:1]
    rest = [p for p in palette_names if p not in first]
    chosen = (first + list(rng.permutation(rest)))[:max(1, n_colours)]
    if atypical:
        chosen[0] = other["palette"][0] if rng.random() < mix else chosen[0]
    darken = 1 - 0.45 * skin_tone  # pigment reads darker on darker skin, so contrast drops
    palette = np.array([COLOURS[c] for c in chosen], dtype=float) * darken
    direction = rng.uniform(0, 2 * np.pi)
    lopsided = asymmetry * 2.0 * (np.cos(direction) * xx + np.sin(direction) * yy) / max(radius, 0.1)
    logits = np.stack([_smooth_noise(rng, size, 5) * 2.5 + (lopsided * i if i else 0) for i in range(len(chosen))])
    logits[0] += 1.0
    weights = np.exp(logits * 2.0)
    weights /= weights.sum(axis=0, keepdims=True)
    lesion = np.tensordot(weights, palette, axes=(0, 0))

    strength = typicality  # atypical cases show their class's structures less
    pigment_net = code in ("nv", "mel") or (code == "df")
    if pigment_net:
        freq = rng.uniform(22, 30) if code != "df" else rng.uniform(16, 22)
        irregular = 0.3 + 1.2 * strength if code == "mel" else 0.3 + 1.2 * mix  # atypical network
        jitter = _smooth_noise(rng, size, 6) * irregular
        net = (np.cos(freq * xx + jitter) * np.cos(freq * yy - jitter)) ** 2
        broken = (_smooth_noise(rng, size, 7) > (0.7 * irregular - 0.9)).astype(float)
        lesion *= 1 - 0.3 * net[..., None] * broken[..., None] * (0.6 if code == "df" else 1.0)
    if code in ("nv", "mel"):  # dots and globules: central and regular vs peripheral and irregular
        count = rng.integers(4, 10)
        peripheral = strength if code == "mel" else mix  # irregular, peripheral globules
        ring = rng.uniform(0.0, 0.5, count) + 0.5 * peripheral * rng.uniform(0.0, 1.0, count)
        ang = rng.uniform(0, 2 * np.pi, count)
        centres = [(cx + r * radius * np.cos(a), cy + r * radius * np.sin(a)) for r, a in zip(ring, ang, strict=True)]
        sizes = rng.uniform(0.02, 0.04, count) * (1 + peripheral * rng.uniform(-0.4, 0.8, count))
        dots = _blobs(xx, yy, centres, sizes, 0.006) * strength
        lesion = _lerp(lesion, np.array(COLOURS["dark_brown"]) * darken, dots[..., None] * 0.8)
    if code == "mel" and rng.random() < 0.55 * strength + 0.1:  # blue-white veil
        veil_centre = (cx + 0.4 * radius * np.cos(direction), cy + 0.4 * radius * np.sin(direction))
        veil = _blobs(xx, yy, [veil_centre], [radius * rng.uniform(0.3, 0.55)], 0.04)
        lesion = _lerp(lesion, np.array([120.0, 140.0, 170.0]), veil[..., None] * 0.7 * strength)
    if code == "bkl":  # milia-like cysts (white) and comedo-like openings (dark), fissures
        count = rng.integers(3, 9)
        ang, rr = rng.uniform(0, 2 * np.pi, count), rng.uniform(0, 0.8, count) * radius
        cysts = _blobs(xx, yy, [(cx + r * np.cos(a), cy + r * np.sin(a)) for r, a in zip(rr, ang, strict=True)],
                       rng.uniform(0.015, 0.03, count), 0.005)
        lesion = _lerp(lesion, np.array(COLOURS["white"]), cysts[..., None] * 0.85 * strength)
        fissures = np.abs(_smooth_noise(rng, size, 9)) < 0.08
        lesion *= 1 - 0.25 * fissures[..., None] * strength
    if code == "bcc":  # arborising vessels and blue-grey ovoid nests
        starts = [((cx + 1) / 2 * size + rng.normal(0, radius * size / 4),
                   (cy + 1) / 2 * size + rng.normal(0, radius * size / 4)) for _ in range(4)]
        vessels = _draw_curves(rng, size, rng.integers(3, 6), radius * 0.9, 0.6, 0.25, starts, branch=0.06)
        lesion = _lerp(lesion, np.array(COLOURS["maroon"]), vessels[..., None] * 0.9 * strength)
        count = rng.integers(1, 4)
        ang, rr = rng.uniform(0, 2 * np.pi, count), rng.uniform(0.2, 0.7, count) * radius
        nests = _blobs(xx, yy, [(cx + r * np.cos(a), cy + r * np.sin(a)) for r, a in zip(rr, ang, strict=True)],
                       rng.uniform(0.04, 0.08, count), 0.015)
        lesion = _lerp(lesion, np.array(COLOURS["blue_grey"]) * darken, nests[..., None] * 0.8 * strength)
    if code == "akiec":  # red "strawberry" base with white scale
        scale = np.clip(_smooth_noise(rng, size, 14) + 0.5 * _smooth_noise(rng, size, 24) - 0.35, 0, 1) * 2.5
        lesion = _lerp(lesion, np.array(COLOURS["white"]), np.clip(scale, 0, 0.8)[..., None] * strength)
        pores = (np.cos(30 * xx) * np.cos(30 * yy)) ** 8
        lesion = _lerp(lesion, np.array(COLOURS["white"]) * 0.95, pores[..., None] * 0.35 * strength)
    if code == "df":  # central white scar-like patch
        patch = _blobs(xx, yy, [(cx, cy)], [radius * rng.uniform(0.3, 0.5)], 0.03)
        lesion = _lerp(lesion, np.array(COLOURS["white"]), patch[..., None] * 0.85 * strength)
    if code == "vasc":  # red-purple lacunae separated by paler septa
        count = rng.integers(6, 14)
        ang, rr = rng.uniform(0, 2 * np.pi, count), np.sqrt(rng.uniform(0, 0.7, count)) * radius
        lac = _blobs(xx, yy, [(cx + r * np.cos(a), cy + r * np.sin(a)) for r, a in zip(rr, ang, strict=True)],
                     rng.uniform(0.05, 0.1, count) * max(radius, 0.15) / 0.25, 0.01)
        lesion = _lerp(lesion * 1.15, np.array(COLOURS["maroon"]) * 0.8, lac[..., None] * 0.8 * strength)

    lesion = _lerp(lesion, skin, 0.3 * skin_tone)  # and its colours stand out less from the skin
    image = _lerp(image, lesion, mask[..., None])

    # acquisition: hairs, vignette of the dermoscope, colour cast, sensor noise
    hair = bool(rng.random() < 0.3)
    if hair:
        hairs = _draw_curves(rng, size, rng.integers(1, 5), 1.6, 0.5, 0.05)
        image = _lerp(image, np.array([40.0, 30.0, 25.0]), hairs[..., None] * 0.85)
    vignette = bool(rng.random() < 0.4)
    if vignette:
        edge = np.sqrt((xx - rng.normal(0, 0.05)) ** 2 + (yy - rng.normal(0, 0.05)) ** 2)
        field_of_view = 1.0 / (1.0 + np.exp((edge - rng.uniform(0.95, 1.3)) / 0.03))
        image *= field_of_view[..., None]
    image *= 1 + rng.normal(0, 0.025, 3)
    image += rng.normal(0, 3.0, image.shape)
    attributes = {
        "asymmetry": float(asymmetry), "border": float(border), "n_colours": int(len(chosen)),
        "diameter_mm": float(2 * radius * FIELD_OF_VIEW_MM / 2), "skin_tone": float(skin_tone),
        "hair": hair, "vignette": vignette, "atypical": bool(atypical),
    }
    return np.clip(image, 0, 255).astype(np.uint8), attributes
