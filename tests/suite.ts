/**
 * The whole suite as one test module: `deno task test` runs this file, so every test shares one
 * worker and one WebGPU device, as a program does. `deno test tests/` gives each file its own
 * worker, which creates and destroys a WebGPU instance and device ~70 times in one process; with
 * Mesa 22.3's lavapipe that process now and then aborts at exit with a glibc heap error after
 * every test passed. Run one file alone with `deno test --allow-all tests/NAME_test.ts`.
 */
import "./absa_glove_test.ts";
import "./absa_test.ts";
import "./bench_test.ts";
import "./bootstrap_test.ts";
import "./cast_test.ts";
import "./checkpoint_test.ts";
import "./clara_corpus_test.ts";
import "./clara_e2e_test.ts";
import "./clara_eval_test.ts";
import "./clara_lm_copy_test.ts";
import "./clara_lm_test.ts";
import "./clara_stages_test.ts";
import "./clara_text_reader_test.ts";
import "./cluster_algorithms_test.ts";
import "./cluster_clara_test.ts";
import "./cluster_map_test.ts";
import "./cluster_metrics_test.ts";
import "./cluster_task_test.ts";
import "./cosine_index_test.ts";
import "./datasets_absa_test.ts";
import "./datasets_batching_test.ts";
import "./datasets_data_dir_test.ts";
import "./datasets_fetch_test.ts";
import "./datasets_glove_test.ts";
import "./datasets_qa_test.ts";
import "./datasets_tokenizer_test.ts";
import "./docs_distractors_test.ts";
import "./docs_from_qa_test.ts";
import "./docs_ingest_test.ts";
import "./docs_readers_test.ts";
import "./docs_synthesize_test.ts";
import "./elementwise_test.ts";
import "./generate_test.ts";
import "./index_test.ts";
import "./latent_qa_synthetic_test.ts";
import "./latent_qa_test.ts";
import "./logging_test.ts";
import "./loss_test.ts";
import "./matmul_test.ts";
import "./memory_lm_test.ts";
import "./memory_test.ts";
import "./metrics_test.ts";
import "./mixed_precision_test.ts";
import "./nn_layers_test.ts";
import "./nn_losses_test.ts";
import "./nn_training_test.ts";
import "./norm_test.ts";
import "./optim_test.ts";
import "./pointer_test.ts";
import "./qa_metrics_test.ts";
import "./reduce_test.ts";
import "./runtime_test.ts";
import "./safetensors_test.ts";
import "./select_test.ts";
import "./shape_test.ts";
import "./shared_data_test.ts";
import "./similarity_test.ts";
import "./softmax_test.ts";
import "./tensor_write_test.ts";
import "./topk_test.ts";
import "./trainer_test.ts";
import "./training_loop_test.ts";
import { assertEquals } from "./assert.ts";

Deno.test("the suite imports every *_test.ts file in tests/", () => {
  const onDisk = [...Deno.readDirSync(new URL(".", import.meta.url))]
    .map((e) => e.name)
    .filter((n) => n.endsWith("_test.ts"))
    .sort();
  const imported = [
    ...Deno.readTextFileSync(new URL(import.meta.url)).matchAll(
      /^import "\.\/(\w+_test\.ts)";$/gm,
    ),
  ].map((m) => m[1]);
  assertEquals(imported, onDisk);
});
