/**
 * Fixtures of the clustering tests: three topics of ten short texts each, and the width of the
 * tiny untrained models the GPU tests build.
 */

/** The topics and their words. */
export const TOPICS: Record<string, string[]> = {
  food: ["pizza", "pasta", "cheese", "sauce", "oven", "bread", "garlic", "tomato"],
  sport: ["football", "goal", "referee", "striker", "stadium", "league", "match", "keeper"],
  space: ["rocket", "orbit", "planet", "launch", "galaxy", "telescope", "comet", "moon"],
};

/** 10 texts per topic, each five of its topic's words (seeded choice) plus shared filler. */
export function topicTexts(): { text: string; topic: string }[] {
  const out: { text: string; topic: string }[] = [];
  let s = 7;
  const next = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (const [topic, vocab] of Object.entries(TOPICS)) {
    for (let i = 0; i < 10; i++) {
      const ws = Array.from({ length: 5 }, () => vocab[Math.floor(next() * vocab.length)]);
      out.push({ text: `today ${ws.join(" ")} people said`, topic });
    }
  }
  return out;
}

/** The width of the tiny untrained models the GPU tests build. */
export const TINY = { dim: 16, heads: 2, layers: 1, hidden: 32, dropout: 0 };
