/**
 * Initialising a latent-QA model from a CLaRa base LM (`train:clara --stage lm`): its token
 * table feeds both the encoder's and the decoder's embeddings, its layers the encoder layers
 * (run bidirectionally) and the decoder layers' self-attention and MLP (their cross-attention has
 * no counterpart and stays random), its final norm the encoder's and the decoder's, its head the
 * vocabulary head. The selector and gate always start fresh.
 *
 * @module
 */
import type { LatentQaModel } from "../../core/models/latent_qa.ts";
import type { DecoderOnly } from "../../core/nn/stacks.ts";
import type { Tensor } from "../../core/tensor.ts";

/** Target name in a latent-QA model for each base-LM parameter name (one LM name may feed two). */
export function lmParameterMap(lmNames: readonly string[]): [string, string][] {
  const pairs: [string, string][] = [];
  for (const name of lmNames) {
    if (name.startsWith("stack.")) {
      const rest = name.slice("stack.".length);
      pairs.push([name, `seq2seq.encoder.${rest}`]);
      if (rest.startsWith("embed.tokens.")) {
        pairs.push([name, `seq2seq.target_embed.${rest.slice(6)}`]);
      } else if (rest.startsWith("norm.")) pairs.push([name, `seq2seq.${rest}`]);
      const layer = /^layers\.(\d+)\.(norm1|attn|norm2|mlp)\.(.*)$/.exec(rest);
      if (layer) {
        const part = { norm1: "norm1", attn: "self_attn", norm2: "norm3", mlp: "mlp" }[layer[2]];
        pairs.push([name, `seq2seq.decoder.${layer[1]}.${part}.${layer[3]}`]);
      }
    } else if (name.startsWith("head.")) {
      pairs.push([name, `seq2seq.${name}`]);
    }
  }
  return pairs;
}

/** Copies what fits from `lm` into `model`; returns the target names filled. */
export function initFromLm(model: LatentQaModel, lm: DecoderOnly): string[] {
  const source = new Map(lm.namedParameters());
  const targets = new Map(model.namedParameters());
  const state: Record<string, Tensor> = {};
  for (const [from, to] of lmParameterMap([...source.keys()])) {
    const s = source.get(from)!, t = targets.get(to);
    if (!t) throw new Error(`initFromLm: the model has no parameter ${to} (for LM ${from})`);
    if (t.shape.join() !== s.shape.join()) {
      throw new Error(`initFromLm: ${from} is [${s.shape}], ${to} is [${t.shape}]`);
    }
    state[to] = s;
  }
  model.loadStateDict(state, false);
  return Object.keys(state);
}
