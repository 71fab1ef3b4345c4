import { assert, assertEquals } from "./assert.ts";
import { GLOVE_FIXTURE, gpuTest } from "./helpers.ts";
import { ops } from "../mod.ts";
import { FastClaraAbsa } from "../core/models/fast_clara_absa.ts";
import { TextTokenizer } from "../datasets/tokenizer.ts";
import { trainWordPiece } from "../datasets/wordpiece_trainer.ts";
import { initEmbeddingsFromGlove } from "../tasks/absa/glove_init.ts";
import { vocabularyOfTokenizerJson } from "../datasets/tokenizer_json.ts";

const fixture = JSON.parse(Deno.readTextFileSync(GLOVE_FIXTURE)) as {
  dimensions: number;
  vectors: Record<string, number[]>;
};

gpuTest(
  "frozen GloVe: vectors fill the frozen table, learned rows start at zero, no gradient reaches it",
  async () => {
    const lines = ["the food was good", "the waiter and the service", "pizza at the café"];
    const tokenizer = new TextTokenizer(
      trainWordPiece([...lines, ...lines], { vocabSize: 200, memoryTokens: 2 }),
    );
    const dim = 8;
    const model = new FastClaraAbsa({
      vocabSize: tokenizer.vocabSize,
      dim,
      heads: 2,
      layers: 1,
      hidden: 16,
      maxLength: 16,
      memoryTokens: 2,
      labels: 3,
      dropout: 0,
      seed: 5,
      frozenWordVectors: true,
    });
    const dir = await Deno.makeTempDir();
    try {
      const hits = await initEmbeddingsFromGlove(model, tokenizer, GLOVE_FIXTURE, dir);
      const vocab = vocabularyOfTokenizerJson(tokenizer.json);
      const expected = vocab.map((t) =>
        t.startsWith("##") ? null : fixture.vectors[t.toLowerCase()]
      );
      assertEquals(hits, expected.filter((v) => v).length, "rows found");
      assert(hits >= 5, `the fixture covers several tokens (found ${hits})`);
      const frozen = (await model.wordVectors!.weight.data()) as Float32Array;
      const learned = (await model.backbone.embed.tokens.weight.data()) as Float32Array;
      const table = (await model.tokenTable().data()) as Float32Array;
      let scale = NaN;
      expected.forEach((vector, i) => {
        const row = (t: Float32Array) => Array.from(t.subarray(i * dim, (i + 1) * dim));
        if (!vector) {
          assertEquals(row(frozen), new Array(dim).fill(0), `frozen row of ${vocab[i]}`);
          assert(row(learned).some((x) => x !== 0), `learned row of ${vocab[i]} stays random`);
          return;
        }
        assertEquals(row(learned), new Array(dim).fill(0), `learned row of ${vocab[i]}`);
        // One scale for every row; the columns beyond GloVe's 4 stay zero.
        if (Number.isNaN(scale)) scale = frozen[i * dim] / vector[0];
        const want = [...vector.slice(0, 4).map((x) => x * scale), 0, 0, 0, 0];
        row(frozen).forEach((x, j) => assert(Math.abs(x - want[j]) < 1e-6, `${vocab[i]}[${j}]`));
        assertEquals(row(table), row(frozen), `table row of ${vocab[i]}`);
      });
      assert(!model.parameters().includes(model.wordVectors!.weight), "not a trainable parameter");
      const loss = ops.sum(ops.mul(model.tokenTable(), model.tokenTable()));
      loss.backward();
      assertEquals(model.wordVectors!.weight.grad, null, "no gradient for the frozen table");
      assert(model.backbone.embed.tokens.weight.grad !== null, "the learned table gets one");
      loss.dispose();
    } finally {
      model.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
