import { assertClose, gpuTest } from "./helpers.ts";
import { nn, tensor, tidy } from "../mod.ts";

// attn [B = 2, L = 2, S = 3], rows summing to 1; support marks the supporting-fact tokens.
// Masses Σ_s attn·support: row (0, 0) 0.5 + 0.2 = 0.7, (0, 1) 0.1 + 0.8 = 0.9, (1, 0) 0.25,
// (1, 1) 0: nothing on the support, so eps = 1e-6 alone keeps the log finite (−log 1e-6 ≈ 13.8).
const ATTN = [0.5, 0.3, 0.2, 0.1, 0.1, 0.8, 0.25, 0.25, 0.5, 0.6, 0, 0.4];
const SUPPORT = [1, 0, 1, 0, 1, 0];
const MASSES = [0.7, 0.9, 0.25, 0];
const EPS = 1e-6;

gpuTest(
  "supportAttentionLoss is −log(attention mass on support tokens) averaged over latents and batch",
  async () => {
    const attn = tensor(ATTN, [2, 2, 3]).requireGrad();
    const support = tensor(SUPPORT, [2, 3]);
    const loss = tidy(() => {
      const l = nn.supportAttentionLoss(attn, support, EPS);
      l.backward();
      return l;
    });
    const want = -MASSES.reduce((s, m) => s + Math.log(m + EPS), 0) / MASSES.length;
    // f32 logs of masses ≥ 1e-6 are exact to ~1e-7 relative; the mean of four adds nothing larger.
    assertClose([await loss.item()], [want], 1e-6, 1e-6, "loss");
    // d loss / d attn[b, l, s] = −support[b, s] / (4 · (mass[b, l] + eps)): the zero-mass row's
    // gradient is 1e6 / 4 on its support token, hence the relative tolerance.
    const grad = ATTN.map((_, i) => {
      const [b, l, s] = [Math.floor(i / 6), Math.floor(i / 3) % 2, i % 3];
      return -SUPPORT[b * 3 + s] / (4 * (MASSES[b * 2 + l] + EPS));
    });
    assertClose(await attn.grad!.data(), grad, 1e-5, 1e-5, "gradient");
    for (const t of [attn, support, loss]) t.dispose();
  },
);
