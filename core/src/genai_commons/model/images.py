"""Options of image generation (``ImageOptions``)."""

from __future__ import annotations

from typing import Any

from attrs import field, frozen

from ._options import CarriesProviderOptions
from ._validators import image_generation_type, in_range
from .enums import ImageGenerationType


@frozen(kw_only=True)
class ImageOptions(CarriesProviderOptions):
    """Optional settings of an image generation call ("Image Generation: Create ImageOptions")."""

    height: int | None = field(default=None, validator=in_range(1, 16384))
    width: int | None = field(default=None, validator=in_range(1, 16384))
    number_of_images: int = field(default=1, validator=in_range(1, 10))
    #: Seed of the random generator, for reproducible images.
    seed: int | None = field(default=None, validator=in_range(0, 2**32 - 1))
    #: Prompt adherence against creative randomness.
    cfg_scale: float | None = field(default=None, validator=in_range(0.0, 50.0))
    generation_type: ImageGenerationType = field(
        default=ImageGenerationType.TEXT_TO_IMAGE, converter=image_generation_type
    )
    #: Provider-specific option objects (a plugin's own small frozen class); see :meth:`option`.
    provider_options: tuple[Any, ...] = field(default=(), converter=tuple)
