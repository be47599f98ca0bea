"""System 1 DiT: shapes, use of every input, masked context tokens ignored."""
import torch

from video2act.model.dit import Video2ActDiT

torch.set_num_threads(1)


def make():
    torch.manual_seed(0)
    return Video2ActDiT(action_dim=14, state_dim=14, chunk_size=64, hidden_size=32, num_layers=2, num_heads=2,
                        ff_inner_dim=64).eval()


def inputs(b=2, n=10):
    g = torch.Generator().manual_seed(1)
    return (torch.randn(b, 64, 14, generator=g), torch.tensor([3, 50]), torch.randn(b, 14, generator=g),
            torch.randn(b, n, 32, generator=g))


def test_output_shape_and_dependence_on_every_input():
    dit = make()
    x, t, s, c = inputs()
    with torch.no_grad():
        out = dit(x, t, s, c)
        assert out.shape == (2, 64, 14)
        assert torch.isfinite(out).all()
        for changed in (dit(x, t + 7, s, c), dit(x, t, s + 1, c), dit(x, t, s, c + 1), dit(x + 1, t, s, c)):
            assert (changed - out).abs().max() > 1e-4


def test_masked_context_tokens_are_ignored():
    dit = make()
    x, t, s, c = inputs()
    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[:, 7:] = False
    c2 = c.clone()
    c2[:, 7:] = 100.0  # only masked positions change
    c3 = c.clone()
    c3[:, :2] = 100.0  # attended positions change
    with torch.no_grad():
        base = dit(x, t, s, c, mask)
        assert torch.allclose(dit(x, t, s, c2, mask), base, atol=1e-5)
        assert (dit(x, t, s, c3, mask) - base).abs().max() > 1e-3


def test_config_round_trip(tmp_path):
    dit = make()
    dit.save_pretrained(tmp_path)
    again = Video2ActDiT.from_pretrained(tmp_path).eval()
    x, t, s, c = inputs()
    with torch.no_grad():
        assert torch.equal(again(x, t, s, c), dit(x, t, s, c))
