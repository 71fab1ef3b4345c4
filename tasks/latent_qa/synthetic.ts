/**
 * Synthesized multi-hop-shaped QA for train:latent-qa: cloze questions over the training
 * examples' own paragraphs (the offline synthesizer's blanks: a date, a number or a name), each set
 * in a fresh context of the target paragraph among distractor paragraphs drawn from the same pool,
 * with the blanked sentence as its one supporting fact. A thousand real training questions cannot
 * teach a from-scratch reader to find and copy a span; these give it that skill on the same kind of
 * text, and give the support-attention loss many more contexts. Deterministic per seed.
 *
 * @module
 */
import { Rng } from "../../core/random.ts";
import { seededShuffle } from "../../datasets/batching.ts";
import type { MultiHopExample, Paragraph } from "../../datasets/multihop_qa.ts";
import { clozeOf } from "../docs/offline_synth.ts";
import type { QaPair } from "../docs/stage_records.ts";

/** How the synthesized questions are drawn. */
export interface ClozeQaOptions {
  /** Most questions to make (fewer when the pool has fewer clozeable sentences). */
  count: number;
  seed: number;
  /** Distractor paragraphs per context (HotpotQA's distractor setting has 8–9). */
  distractors?: number;
  /**
   * The target paragraph's latest position in the context, so that it lies inside the reader's
   * token budget (ten HotpotQA paragraphs run past 768 tokens).
   */
  maxPosition?: number;
}

interface Candidate {
  paragraph: Paragraph;
  sentenceIndex: number;
  pair: QaPair;
  source: MultiHopExample["source"];
}

/** No answer is excluded: each sentence is blanked on its own. */
const NO_USED_ANSWERS: ReadonlySet<string> = new Set();

/** Cloze QA examples over `pool`'s paragraphs; see the module doc. */
export function synthesizeClozeQa(
  pool: readonly MultiHopExample[],
  o: ClozeQaOptions,
): MultiHopExample[] {
  const distractors = o.distractors ?? 9, maxPosition = o.maxPosition ?? 3;
  const paragraphs: Paragraph[] = [];
  const candidates: Candidate[] = [];
  const seen = new Set<string>();
  for (const example of pool) {
    for (const paragraph of example.paragraphs) {
      if (seen.has(paragraph.title)) continue;
      seen.add(paragraph.title);
      paragraphs.push(paragraph);
      paragraph.sentences.forEach((sentence, sentenceIndex) => {
        const pair = clozeOf(sentence.trim(), NO_USED_ANSWERS);
        if (pair) candidates.push({ paragraph, sentenceIndex, pair, source: example.source });
      });
    }
  }
  const rng = new Rng(o.seed);
  return seededShuffle(candidates, rng).slice(0, o.count).map((c, k) => {
    const picked = new Set<Paragraph>([c.paragraph]);
    const want = Math.min(distractors, paragraphs.length - 1);
    while (picked.size <= want) picked.add(paragraphs[rng.int(paragraphs.length)]);
    const context = [...picked].slice(1);
    const at = rng.int(Math.min(maxPosition, context.length) + 1);
    context.splice(at, 0, c.paragraph);
    return {
      id: `cloze-${k}`,
      source: c.source,
      question: c.pair.question,
      answer: c.pair.answer,
      paragraphs: context,
      supportingFacts: [{ title: c.paragraph.title, sentenceIndex: c.sentenceIndex }],
      type: "cloze",
    };
  });
}
