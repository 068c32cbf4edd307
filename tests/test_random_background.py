"""Random training backgrounds (pav/train/background.py): the recomposition against the compositing model
in float64, and the trainer feeding the recomposited colours (a transparent avatar's loss equals the float64
reference built here from the collection's images, masks and the background the renderer was given)."""
import pytest
import torch

from pav.config import TrainConfig
from pav.train.background import random_colors, recomposite


def test_recomposite_equals_compositing_the_person_over_the_new_background():
    g = torch.Generator().manual_seed(3)
    R = 500
    person = torch.rand(R, 3, generator=g, dtype=torch.float64)       # F, the person's colour
    mask = torch.rand(R, generator=g, dtype=torch.float64)            # m, soft edges included
    mask[:50], mask[50:100] = 0.0, 1.0
    old, new = torch.rand(R, 3, generator=g, dtype=torch.float64), torch.rand(R, 3, generator=g, dtype=torch.float64)
    image = mask[:, None] * person + (1 - mask[:, None]) * old          # what the collection stores
    got = recomposite(image, old, mask, new)
    torch.testing.assert_close(got, mask[:, None] * person + (1 - mask[:, None]) * new, atol=1e-15, rtol=0)
    torch.testing.assert_close(got[:50], new[:50], atol=1e-15, rtol=0)          # no person: the new background
    torch.testing.assert_close(got[50:100], image[50:100], atol=0, rtol=0)       # all person: unchanged


def test_random_colors_are_uniform_and_follow_the_generator():
    a = random_colors(20000, torch.Generator().manual_seed(1))
    assert a.shape == (20000, 3) and float(a.min()) >= 0 and float(a.max()) <= 1
    assert float(a.mean()) == pytest.approx(0.5, abs=0.01) and float(a.var()) == pytest.approx(1 / 12, abs=0.002)
    torch.testing.assert_close(a, random_colors(20000, torch.Generator().manual_seed(1)), atol=0, rtol=0)


def test_trainer_trains_on_the_recomposited_colours(tiny_collection):
    """A fully transparent avatar renders each ray's background b'. Its colour loss must then be
    mean((I + (1 − m)(b' − b) − b')²) with b' the background the trainer passed to the renderer, b the
    collection's, I and m its images and masks: recomputed here in float64. b' must not be the collection's."""
    from pav.data import load_split, read_collection
    from pav.head import load_head_model
    from pav.nerf.avatar import Avatar, RayOutput
    from pav.train.trainer import Trainer
    from test_avatar import small_config

    collection = read_collection(tiny_collection)
    data = load_split(collection, "train")
    torch.manual_seed(0)
    avatar = Avatar(small_config(), load_head_model("default"), torch.tensor(collection.manifest.shape),
                    collection.appearance_names)
    trainer = Trainer(avatar, data, TrainConfig(rays_per_step=256, frames_per_step=2, random_background=True))
    seen = {}

    def transparent(origins, dirs, near, far, group, vertices, expression, appearance, background, **kw):
        seen["background"] = background
        R = len(origins)
        zero = torch.zeros(R, requires_grad=True)
        return RayOutput(background + 0 * zero[:, None], zero, zero, 0, torch.zeros(R, 1), torch.zeros(R, 1),
                         torch.zeros(R, 1))

    gen_state = trainer.generator.get_state()
    trainer.render_rays = transparent
    batch = trainer.batch_loss()
    trainer.generator.set_state(gen_state)
    frames, pixels, group = trainer.sample_batch()  # the same draw as the batch
    f = frames[group]
    HW = data.height * data.width
    image = data.images.view(len(data.images), HW, 3)[f, pixels].double()
    mask = data.masks.view(len(data.masks), HW)[f, pixels].double()
    old = (data.backgrounds.view(len(data.backgrounds), HW, 3)[data.appearance[f], pixels].double()
           if data.backgrounds is not None else torch.ones_like(image))
    new = seen["background"].double()
    assert float((new - old).abs().mean()) > 0.1  # a random background, not the collection's
    assert float(mask.min()) < 0.5 < float(mask.max())  # the batch has person and background pixels
    expected = ((image + (1 - mask[:, None]) * (new - old) - new) ** 2).mean()
    assert float(batch.mse.detach()) == pytest.approx(float(expected), rel=1e-5)


def test_random_background_without_masks_is_a_clear_error(tiny_collection):
    from pav.data import load_split, read_collection
    from pav.head import load_head_model
    from pav.nerf.avatar import Avatar
    from pav.train.trainer import Trainer
    from test_avatar import small_config

    collection = read_collection(tiny_collection)
    data = load_split(collection, "train")._replace(masks=None)
    avatar = Avatar(small_config(), load_head_model("default"), torch.tensor(collection.manifest.shape),
                    collection.appearance_names)
    with pytest.raises(ValueError, match="random_background needs the collection's person masks"):
        Trainer(avatar, data, TrainConfig(random_background=True))
